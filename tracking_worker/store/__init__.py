"""Redis state: every key of a provider, changed only by the Lua scripts of ``lua/``.

redis-py's errors are converted where they enter (``connection.converted``): nothing above this
package sees a raw redis exception."""

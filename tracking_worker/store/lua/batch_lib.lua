-- batch_lib: a claimed batch's newline-joined events (field `lines`, see claim.lua) as a Lua
-- array; put before claim.lua and reap.lua by lua_scripts.py, after the prelude.
local function split_lines(events)
  local items, start = {}, 1
  while true do
    local stop = string.find(events, '\n', start, true)
    if not stop then
      items[#items + 1] = string.sub(events, start)
      return items
    end
    items[#items + 1] = string.sub(events, start, stop - 1)
    start = stop + 1
  end
end

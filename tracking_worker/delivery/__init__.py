"""The worker side of one provider: claim, send, judge, settle. What a round's results mean is
decided by pure functions (``policy``, ``bisect``); the rest moves values between the store, the
provider's mapping and the transport."""

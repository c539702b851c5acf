-- latency: add one batch's request counts to a provider's latency histogram.
-- KEYS[1] tw:{p}:latency  hash of counters (see store/metrics.py)
-- ARGV pairs: field, amount (bucket counts le:<bound>, count, sum_us, status:<class>)
for i = 1, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
end
return 1

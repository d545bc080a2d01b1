-- wrk: POST varied transactions to vigil's /v1/score, shaped like seedref's post.lua
-- (50,000 customers, amounts up to 200) so the two stacks see the same load.
-- usage: wrk -t2 -c64 -d10s --latency -s bench/wrk/score.lua http://127.0.0.1:8080
math.randomseed(os.time())
local n = 0
local base = (os.time() - 20 * 86400) * 1000
request = function()
  n = n + 1
  local c = math.random(1, 50000)
  local body = string.format('{"transaction_id":"w%d-%d","account_id":"C%d","merchant_id":"m%d","amount":"%.2f","currency":"EUR","channel":"ecommerce","device_id":"d%d","timestamp":%d}',
    n, math.random(1, 1e9), c, c % 977, 0.01 + math.random() * 200, c, base + n * 200)
  return wrk.format("POST", "/v1/score", {["Content-Type"] = "application/json"}, body)
end

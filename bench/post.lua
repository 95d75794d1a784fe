-- wrk: POST, with the Authorization header from BENCH_AUTHORIZATION when it is set.
wrk.method = "POST"
local authorization = os.getenv("BENCH_AUTHORIZATION")
if authorization ~= nil and authorization ~= "" then
  wrk.headers["Authorization"] = authorization
end

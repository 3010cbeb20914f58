-- One request in ten is a small POST, the rest GETs, on every keep-alive connection: a browser's
-- connection to an app looks like this. Used by bench_proxy.py's "mixed" case: a request with a body goes
-- to Pingora's pipeline, and the GETs after it show whether the connection came back to the fast stage.
local n = 0
local post_headers = {}

init = function(args)
  for name, value in pairs(wrk.headers) do
    post_headers[name] = value
  end
  post_headers["Content-Type"] = "text/plain"
end

request = function()
  n = n + 1
  if n % 10 == 0 then
    return wrk.format("POST", nil, post_headers, "x=1")
  end
  return wrk.format("GET")
end

-- wrk script for the POST /echo scenario: a 1 KiB body on every request.
wrk.method = "POST"
wrk.body = string.rep("x", 1024)
wrk.headers["Content-Type"] = "application/octet-stream"

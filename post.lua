wrk.method = "POST"
wrk.headers["Content-Type"] = "text/xml; charset=utf-8"
wrk.body = io.open("/tmp/tmp.jpRrXfGH6N/signed.xml"):read("*a")

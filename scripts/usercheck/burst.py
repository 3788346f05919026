import json, sys, time, ffitel
ffitel.init_telemetry()
t = time.time()
for i in range(100_000):
    ffitel.info("burst", i=i, user="bob", ok=True)
for i in range(5000):
    try:
        with ffitel.span("job", attributes={"i": i, "metric_name": "jobs"}) as s:
            s.add_event("step", n=i)
            if i % 100 == 0:
                raise ValueError("boom %d" % i)
    except ValueError:
        pass
for i in range(50):
    ffitel.info("paced", i=i)
    time.sleep(0.02)
ffitel.flush(30)
st = ffitel.stats()["pipeline"]
ffitel.shutdown(30)
out = {k: st[k] for k in ("logs", "spans")}
print("STATS", json.dumps(out), "in %.1fs" % (time.time() - t))
bad = [k for k in ("logs", "spans") if st[k]["exported"] != st[k]["emitted"] or st[k]["dropped"] or st[k]["failed"]]
sys.exit(1 if bad else 0)

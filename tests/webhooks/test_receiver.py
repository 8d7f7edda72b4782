import threading
import time

import httpx

from pique_engine.webhooks.receiver import make_listener
from pique_engine.webhooks.signature import sign


def test_listener_verifies_and_prints_each_webhook_and_rejects_forgeries():
    lines: list[str] = []
    server = make_listener("127.0.0.1", 0, ["whsec_test"], lines.append)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    body = b'{"job_id":"job_1","status":"completed","overall_score":0.5}'
    try:
        good = httpx.post(url, content=body, headers={"X-Pique-Signature": sign(body, ["whsec_test"], int(time.time())), "X-Pique-Event-Id": "evt_1"})
        forged = httpx.post(url, content=body, headers={"X-Pique-Signature": sign(body, ["whsec_other"], int(time.time()))})
    finally:
        server.shutdown()
        server.server_close()
    assert (good.status_code, forged.status_code) == (200, 400)
    assert lines[0] == "VERIFIED evt_1 job=job_1 status=completed overall_score=0.5"
    assert lines[-1].startswith("REJECTED /hook: ")

"""Chat load from inside the stack network, straight at the service (not through Docker's
port proxy), for the graceful-shutdown gate. Run in a container as
`python -c <this file> URL API_KEY CLIENTS SECONDS`; prints one JSON line per request:
{"sent": t, "done": t, "outcome": 200 | "reset" | "refused" | "timeout" | "unresolved" |
"closed" | "error:<name>", "taskId": ...}. One connection per request, so a closed
keep-alive connection can never be mistaken for a dropped request."""

import http.client
import json
import socket
import sys
import threading
import time
import uuid
from urllib.parse import urlsplit

URL, KEY, CLIENTS, SECONDS = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
TARGET = urlsplit(URL)
lock = threading.Lock()


def turn(session: str, number: int) -> dict:
    record = {"sent": None, "done": None, "outcome": None, "taskId": None}
    body = json.dumps({"message": f"turn {number}", "sessionId": session})
    connection = http.client.HTTPConnection(TARGET.hostname, TARGET.port, timeout=20)
    try:
        connection.connect()
        connection.putrequest("POST", "/api/chat")
        for name, value in (("Content-Type", "application/json"), ("X-Api-Key", KEY),
                            ("Content-Length", str(len(body))), ("Connection", "close")):
            connection.putheader(name, value)
        connection.endheaders(body.encode())
        record["sent"] = time.time()  # the whole request is written: it was accepted
        response = connection.getresponse()
        payload = response.read()
        record["outcome"] = response.status
        if response.status == 200:
            record["taskId"] = json.loads(payload)["taskId"]
    except ConnectionRefusedError:
        record["outcome"] = "refused"
    except ConnectionResetError:
        record["outcome"] = "reset"
    except TimeoutError:
        record["outcome"] = "timeout"
    except socket.gaierror:
        record["outcome"] = "unresolved"  # the stopped container's name is gone from DNS
    except http.client.RemoteDisconnected:
        record["outcome"] = "closed"
    except Exception as exc:  # every outcome is recorded, none is lost
        # IncompleteRead, BadStatusLine, a 200 without JSON: a request dropped mid-answer
        # must be counted, never kill the thread silently.
        record["outcome"] = f"error:{type(exc).__name__}"
    finally:
        connection.close()
    record["done"] = time.time()
    return record


def client() -> None:
    session, number, deadline = f"shutdown-{uuid.uuid4().hex[:10]}", 0, time.time() + SECONDS
    while time.time() < deadline:
        number += 1
        record = turn(session, number)
        with lock:
            print(json.dumps(record), flush=True)
        if not isinstance(record["outcome"], int):
            time.sleep(0.05)


crashed = threading.Event()


def on_crash(args: threading.ExceptHookArgs) -> None:
    crashed.set()
    threading.__excepthook__(args)


threading.excepthook = on_crash
threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
sys.exit(1 if crashed.is_set() else 0)

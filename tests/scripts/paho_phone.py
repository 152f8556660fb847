"""A phone on Eclipse Paho, the client library many MQTT apps are built on: a third-party
client against the hub's own MQTT endpoint, run by tests/tests/e2e/mqtt.rs.

    python3 paho_phone.py HOST PORT USERNAME TOKEN USER_ID {3.1.1|5}

Connects with keep-alive 0 and a persistent session, subscribes to the person's inbox at QoS 1
and prints `subscribed`; on the first alert it checks in as safe (QoS 1, with a `ref`) and,
once the hub's `checkin_ack` for that ref arrives, prints the alert and the ack as one JSON
line and exits 0. Anything else (a refused login or subscription, an error envelope, no answer
within 30 s) exits 1 with the reason on standard error.
"""

import json
import sys
import threading

import paho.mqtt.client as mqtt

host, port, username, token, user_id, version = sys.argv[1:7]
inbox = f"scaan/v1/staff/{user_id}/inbox"
checkin_topic = f"scaan/v1/staff/{user_id}/checkin"
protocol = {"3.1.1": mqtt.MQTTv311, "5": mqtt.MQTTv5}[version]
done = threading.Event()
outcome = {}


def fail(reason):
    outcome["error"] = reason
    done.set()


def on_connect(client, userdata, flags, reason_code, properties):
    if reason_code.is_failure:
        return fail(f"CONNECT refused: {reason_code}")
    client.subscribe(inbox, qos=1)


def on_subscribe(client, userdata, mid, reason_codes, properties):
    if any(code.is_failure for code in reason_codes):
        return fail(f"SUBSCRIBE refused: {reason_codes}")
    print("subscribed", flush=True)


def on_message(client, userdata, message):
    envelope = json.loads(message.payload)
    if envelope.get("type") == "alert" and "alert" not in outcome:
        outcome["alert"] = envelope["alert"]["id"]
        checkin = {"alert_id": envelope["alert"]["id"], "status": "safe", "ref": "paho-1"}
        client.publish(checkin_topic, json.dumps(checkin), qos=1)
    elif envelope.get("type") == "checkin_ack" and envelope.get("ref") == "paho-1":
        outcome["ack"] = envelope
        done.set()
    elif envelope.get("type") == "error":
        fail(f"the hub answered {envelope}")


kwargs = {"clean_session": False} if protocol == mqtt.MQTTv311 else {}
client = mqtt.Client(
    mqtt.CallbackAPIVersion.VERSION2, client_id=f"paho-{user_id}", protocol=protocol, **kwargs
)
client.username_pw_set(username, token)
client.on_connect = on_connect
client.on_subscribe = on_subscribe
client.on_message = on_message
if protocol == mqtt.MQTTv5:
    client.connect(host, int(port), keepalive=0, clean_start=False)
else:
    client.connect(host, int(port), keepalive=0)
client.loop_start()
if not done.wait(30):
    fail("no alert and acknowledgement within 30 s")
client.loop_stop()
client.disconnect()
if "error" in outcome:
    print(outcome["error"], file=sys.stderr)
    sys.exit(1)
print(json.dumps(outcome), flush=True)

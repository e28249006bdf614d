"""The processes' front, running what bot/app.py built: HTTP (waitress) and Socket Mode, the front door, the
dispatcher (the ack path and the replies), lanes after the ack, and the run-until-stopped loop."""

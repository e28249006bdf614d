"""The processes' front: HTTP (waitress) and Socket Mode, the front door, lanes after the ack."""

"""N loopback rounds of connect, 4-byte request, 4-byte answer and close,
one after another, against a threaded accept loop: the connections whose
state changes the monitor's program sees. Usage: workload.py N"""
import socket
import sys
import threading

rounds = int(sys.argv[1])
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(512)
port = listener.getsockname()[1]


def serve():
    for _ in range(rounds):
        connection, _ = listener.accept()
        connection.recv(16)
        connection.sendall(b"pong")
        connection.close()


server = threading.Thread(target=serve)
server.start()
for _ in range(rounds):
    client = socket.create_connection(("127.0.0.1", port))
    client.sendall(b"ping")
    client.recv(16)
    client.close()
server.join()

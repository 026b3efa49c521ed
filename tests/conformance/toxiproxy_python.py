"""Drives `porthole proxy serve` on 127.0.0.1:8474 through the PyPI client
toxiproxy-python (unmodified), checking both what the client reports and what
happens to real traffic. Run by scripts/conformance-toxiproxy.sh."""

import socket
import threading
import time
import unittest

from toxiproxy import Toxiproxy
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists


def echo_server():
    """A threaded echo server on a free loopback port; returns 'host:port'."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)

    def serve(connection):
        with connection:
            while True:
                data = connection.recv(65536)
                if not data:
                    return
                connection.sendall(data)

    def accept():
        while True:
            connection, _ = listener.accept()
            threading.Thread(target=serve, args=(connection,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return "127.0.0.1:%d" % listener.getsockname()[1]


def address(listen):
    host, port = listen.rsplit(":", 1)
    return host, int(port)


def round_trip(listen, message=b"ping"):
    """Seconds for one echo through the proxy."""
    with socket.create_connection(address(listen), timeout=10) as stream:
        stream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        start = time.monotonic()
        stream.sendall(message)
        received = b""
        while len(received) < len(message):
            chunk = stream.recv(65536)
            if not chunk:
                raise AssertionError("connection closed early")
            received += chunk
        assert received == message
        return time.monotonic() - start


def refused(listen):
    try:
        socket.create_connection(address(listen), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


class ToxiproxyPythonClient(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.upstream = echo_server()
        cls.toxiproxy = Toxiproxy()

    def setUp(self):
        self.toxiproxy.destroy_all()

    def test_running_and_version(self):
        self.assertTrue(self.toxiproxy.running())
        self.assertIn(b"2.12", self.toxiproxy.version())

    def test_create_list_destroy(self):
        proxy = self.toxiproxy.create(upstream=self.upstream, name="echo")
        self.assertEqual(proxy.name, "echo")
        self.assertTrue(proxy.enabled)
        self.assertNotEqual(proxy.listen, "127.0.0.1:0", "port 0 must be resolved")
        self.assertLess(round_trip(proxy.listen), 1.0)
        self.assertIn("echo", self.toxiproxy.proxies())
        self.assertEqual(self.toxiproxy.get_proxy("echo").upstream, self.upstream)
        with self.assertRaises(ProxyExists):
            self.toxiproxy.create(upstream=self.upstream, name="echo")
        self.assertTrue(self.toxiproxy.destroy(proxy))
        self.assertIsNone(self.toxiproxy.get_proxy("echo"))
        self.assertTrue(refused(proxy.listen))

    def test_create_disabled(self):
        proxy = self.toxiproxy.create(upstream=self.upstream, name="off", enabled=False)
        self.assertFalse(proxy.enabled)
        self.assertFalse(self.toxiproxy.get_proxy("off").enabled)

    def test_populate(self):
        proxies = self.toxiproxy.populate(
            [
                {"name": "one", "upstream": self.upstream, "listen": "127.0.0.1:0"},
                {"name": "two", "upstream": self.upstream, "listen": "127.0.0.1:0"},
            ]
        )
        self.assertEqual(sorted(proxy.name for proxy in proxies), ["one", "two"])
        self.assertEqual(sorted(self.toxiproxy.proxies()), ["one", "two"])
        for proxy in proxies:
            self.assertLess(round_trip(proxy.listen), 1.0)

    def test_toxics(self):
        proxy = self.toxiproxy.create(upstream=self.upstream, name="toxic")
        proxy.add_toxic(type="latency", attributes={"latency": 1000, "jitter": 0})
        toxics = proxy.toxics()
        self.assertEqual(list(toxics), ["latency_downstream"])
        toxic = toxics["latency_downstream"]
        self.assertEqual(toxic.type, "latency")
        self.assertEqual(toxic.stream, "downstream")
        self.assertEqual(toxic.toxicity, 1)
        self.assertEqual(toxic.attributes, {"latency": 1000, "jitter": 0})
        self.assertGreaterEqual(round_trip(proxy.listen), 0.99)

        proxy.add_toxic(
            type="bandwidth", stream="upstream", name="slow", toxicity=0.5,
            attributes={"rate": 1000},
        )
        self.assertEqual(proxy.get_toxic("slow").toxicity, 0.5)
        with self.assertRaises(ProxyExists):
            proxy.add_toxic(type="noop", name="slow")
        with self.assertRaises(InvalidToxic):
            proxy.add_toxic(type="gremlin")
        with self.assertRaises(InvalidToxic):
            proxy.add_toxic(type="latency", stream="sideways")

        self.assertTrue(proxy.destroy_toxic("latency_downstream"))
        self.assertTrue(proxy.destroy_toxic("slow"))
        self.assertEqual(proxy.toxics(), {})
        self.assertLess(round_trip(proxy.listen), 0.8)
        with self.assertRaises(NotFound):
            proxy.destroy_toxic("slow")

    def test_every_toxic_type_is_accepted(self):
        proxy = self.toxiproxy.create(upstream=self.upstream, name="types")
        attributes = {
            "latency": {"latency": 1, "jitter": 1},
            "bandwidth": {"rate": 1000},
            "slow_close": {"delay": 1},
            "timeout": {"timeout": 1},
            "reset_peer": {"timeout": 1},
            "slicer": {"average_size": 10, "size_variation": 1, "delay": 1},
            "limit_data": {"bytes": 10},
            "noop": {},
        }
        for kind, values in attributes.items():
            proxy.add_toxic(type=kind, attributes=values)
            self.assertEqual(proxy.get_toxic(kind + "_downstream").attributes, values)
        self.assertEqual(len(proxy.toxics()), len(attributes))

    def test_disable_enable_and_down(self):
        proxy = self.toxiproxy.create(upstream=self.upstream, name="flaky")
        proxy.disable()
        self.assertFalse(proxy.enabled)
        self.assertFalse(self.toxiproxy.get_proxy("flaky").enabled)
        self.assertTrue(refused(proxy.listen))
        proxy.enable()
        self.assertTrue(self.toxiproxy.get_proxy("flaky").enabled)
        self.assertLess(round_trip(proxy.listen), 1.0)
        with proxy.down():
            self.assertTrue(refused(proxy.listen))
        self.assertLess(round_trip(proxy.listen), 1.0)

    def test_reset(self):
        proxy = self.toxiproxy.create(upstream=self.upstream, name="reset")
        proxy.add_toxic(type="latency", attributes={"latency": 3000})
        proxy.disable()
        self.assertTrue(self.toxiproxy.reset())
        self.assertTrue(self.toxiproxy.get_proxy("reset").enabled)
        self.assertEqual(proxy.toxics(), {})
        self.assertLess(round_trip(proxy.listen), 2.5)

    def test_missing_proxy(self):
        from toxiproxy.api import APIConsumer

        with self.assertRaises(NotFound):
            APIConsumer.get("/proxies/nothing")


if __name__ == "__main__":
    unittest.main()

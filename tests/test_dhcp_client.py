"""The client's state machine (RFC 2131 section 4.4) and the relay's rules, driven against the server core."""

from __future__ import annotations

import random
from ipaddress import IPv4Address, IPv4Interface

from services.dhcp.client import Bind, DhcpClient, Send, State, Unbind
from services.dhcp.packet import ZERO, DhcpPacket, MessageType, Op, Opt
from services.dhcp.pools import parse_config
from services.dhcp.relay import MAX_HOPS, toward_client, toward_server
from services.dhcp.server import DhcpServer

A = IPv4Address
MAC = bytes.fromhex("02000000aa01")
SERVER_IF = IPv4Interface("10.0.3.60/24")
RELAY = A("10.0.1.1")
CONFIG = {"pools": [{"subnet": "10.0.1.0/24", "range": "10.0.1.100-10.0.1.110", "router": "10.0.1.1",
                     "dns": ["10.0.3.53"], "domain": "campus.lab", "lease_time": 100, "renew": 50, "rebind": 80}]}


def wire(pkt: DhcpPacket) -> DhcpPacket:
    return DhcpPacket.decode(pkt.encode())  # everything crosses as bytes, as on a link


class Net:
    """Client on lan1, relay on its router, server on the servers LAN: the three cores, no sockets."""

    def __init__(self, relay_up: bool = True, server_up: bool = True):
        self.server = DhcpServer(parse_config(CONFIG))
        self.client = DhcpClient(MAC, rng=random.Random(4))
        self.relay_up, self.server_up = relay_up, server_up
        self.sent: list[Send] = []

    def deliver(self, actions, now: float) -> list:
        out = []
        for a in actions:
            if not isinstance(a, Send):
                out.append(a)
                continue
            self.sent.append(a)
            pkt = wire(a.packet)
            if a.to is None:  # broadcast on lan1: the relay hears it
                if not self.relay_up:
                    continue
                pkt = toward_server(pkt, RELAY)
            if not self.server_up:
                continue
            reply = self.server.handle(wire(pkt), now, SERVER_IF)
            if reply is None:
                continue
            back = wire(reply.packet)
            if reply.to == "relay":
                assert toward_client(back, {RELAY}) is not None
            out += self.deliver(self.client.receive(wire(back), now), now)
        return out


def test_dora_binds_with_one_xid_and_every_option():
    net = Net()
    done = net.deliver(net.client.start(0.0), 0.0)
    [bind] = [a for a in done if isinstance(a, Bind)]
    lease = bind.lease
    assert net.client.state == State.BOUND
    assert [s.packet.message_type for s in net.sent] == [MessageType.DISCOVER, MessageType.REQUEST]
    assert len({s.packet.xid for s in net.sent}) == 1
    assert all(s.to is None and s.packet.ciaddr == ZERO for s in net.sent)  # broadcast, no address yet
    request = net.sent[1].packet
    assert request.options[Opt.REQUESTED_IP] == lease.address == A("10.0.1.100")
    assert request.options[Opt.SERVER_ID] == lease.server == A("10.0.3.60")
    assert (lease.prefix, lease.routers, lease.dns, lease.domain) == (24, [A("10.0.1.1")], [A("10.0.3.53")],
                                                                      "campus.lab")
    assert (lease.lease_time, lease.t1, lease.t2) == (100, 50, 80)
    assert net.client.deadline == 50.0


def test_renewal_is_unicast_at_t1_and_rebinding_broadcast_at_t2():
    net = Net()
    net.deliver(net.client.start(0.0), 0.0)
    net.sent.clear()
    assert net.client.tick(49.0) == []
    done = net.deliver(net.client.tick(50.0), 50.0)
    renew = net.sent[0]
    assert renew.to == A("10.0.3.60") and renew.packet.ciaddr == A("10.0.1.100")
    assert Opt.REQUESTED_IP not in renew.packet.options and Opt.SERVER_ID not in renew.packet.options
    assert any(isinstance(a, Bind) for a in done) and net.client.state == State.BOUND
    assert net.client.deadline == 100.0  # T1 counted from the renewal
    # the server goes quiet: renew retries, then at T2 the client broadcasts
    net.server_up = False
    net.sent.clear()
    net.deliver(net.client.tick(100.0), 100.0)
    assert net.client.state == State.RENEWING and net.sent[-1].to is not None
    t = 100.0
    while net.client.state != State.REBINDING:
        t = net.client.deadline
        net.deliver(net.client.tick(t), t)
    assert t == 130.0 and net.sent[-1].to is None and net.sent[-1].packet.ciaddr == A("10.0.1.100")
    # the server is back: a rebinding REQUEST (broadcast, via the relay) is ACKed
    net.server_up = True
    done = net.deliver(net.client.tick(net.client.deadline), net.client.deadline)
    assert any(isinstance(a, Bind) for a in done) and net.client.state == State.BOUND


def test_lease_running_out_unbinds_and_starts_again():
    net = Net()
    net.deliver(net.client.start(0.0), 0.0)
    net.server_up = False
    t, unbound = 0.0, []
    while not unbound:
        t = net.client.deadline
        unbound = [a for a in net.deliver(net.client.tick(t), t) if isinstance(a, Unbind)]
    assert t == 100.0 and unbound[0].address == A("10.0.1.100") and "expired" in unbound[0].why
    assert net.client.state == State.INIT


def test_discover_is_retransmitted_with_backoff_until_a_server_answers():
    net = Net(server_up=False)
    net.deliver(net.client.start(0.0), 0.0)
    times = [0.0]
    for _ in range(4):
        t = net.client.deadline
        net.deliver(net.client.tick(t), t)
        times.append(t)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert all(0.85 * 2 ** i <= g <= 1.15 * 2 ** i for i, g in enumerate(gaps)), gaps
    assert len({s.packet.xid for s in net.sent}) == 1
    net.server_up = True
    t = net.client.deadline
    net.deliver(net.client.tick(t), t)
    assert net.client.state == State.BOUND


def test_nak_while_renewing_drops_the_address():
    net = Net()
    net.deliver(net.client.start(0.0), 0.0)
    net.server.leases.clear()
    net.server.by_client.clear()
    net.server.handle(DhcpPacket(chaddr=b"\x02\0\0\0\0\x09", giaddr=RELAY, options={
        Opt.MESSAGE_TYPE: MessageType.REQUEST, Opt.REQUESTED_IP: A("10.0.1.100"),
        Opt.SERVER_ID: A("10.0.3.60")}), 1.0, SERVER_IF)  # someone else took the address meanwhile
    done = net.deliver(net.client.tick(50.0), 50.0)
    assert [type(a) for a in done] == [Unbind] and "NAK" in done[0].why
    assert net.client.state == State.INIT


def test_release_is_unicast_to_the_server():
    net = Net()
    net.deliver(net.client.start(0.0), 0.0)
    actions = net.client.release(10.0)
    send, unbind = actions
    assert send.packet.message_type == MessageType.RELEASE and send.to == A("10.0.3.60")
    assert send.packet.ciaddr == A("10.0.1.100") and isinstance(unbind, Unbind)
    net.deliver([send], 10.0)
    assert net.server.leases[A("10.0.1.100")].state == "released"
    assert net.client.release(11.0) == []


def test_decline_tells_the_server():
    net = Net()
    net.deliver(net.client.start(0.0), 0.0)
    send, unbind = net.client.decline(1.0)
    assert send.to is None and send.packet.options[Opt.REQUESTED_IP] == A("10.0.1.100")
    net.deliver([send], 1.0)
    assert net.server.leases[A("10.0.1.100")].state == "declined"


def test_replies_for_someone_else_are_ignored():
    client = DhcpClient(MAC, rng=random.Random(1))
    [send] = client.start(0.0)
    other = DhcpPacket(op=Op.BOOTREPLY, xid=send.packet.xid + 1, chaddr=MAC, yiaddr=A("10.0.1.5"),
                       options={Opt.MESSAGE_TYPE: MessageType.OFFER})
    assert client.receive(other, 0.1) == []
    other.xid, other.chaddr = send.packet.xid, b"\x02\0\0\0\0\x07"
    assert client.receive(other, 0.1) == []
    assert client.state == State.SELECTING


def test_relay_sets_giaddr_once_and_counts_hops():
    pkt = DhcpPacket(options={Opt.MESSAGE_TYPE: MessageType.DISCOVER})
    first = toward_server(pkt, A("10.0.1.1"))
    assert first.giaddr == A("10.0.1.1") and first.hops == 1
    second = toward_server(first, A("10.0.0.1"))
    assert second.giaddr == A("10.0.1.1") and second.hops == 2  # a nearer relay already set it
    first.hops = MAX_HOPS
    assert toward_server(first, A("10.0.0.1")) is None
    assert toward_server(DhcpPacket(op=Op.BOOTREPLY), A("10.0.1.1")) is None


def test_relay_delivers_replies_as_the_server_would_have():
    links = {A("10.0.1.1")}
    base = dict(op=Op.BOOTREPLY, giaddr=A("10.0.1.1"), yiaddr=A("10.0.1.100"))
    offer = DhcpPacket(**base, options={Opt.MESSAGE_TYPE: MessageType.OFFER})
    assert (toward_client(offer, links).to, toward_client(offer, links).ip) == ("hardware", A("10.0.1.100"))
    offer.flags = 0x8000
    assert toward_client(offer, links).to == "broadcast"
    nak = DhcpPacket(op=Op.BOOTREPLY, giaddr=A("10.0.1.1"), options={Opt.MESSAGE_TYPE: MessageType.NAK})
    assert toward_client(nak, links).to == "broadcast"
    renew = DhcpPacket(**base, ciaddr=A("10.0.1.100"), options={Opt.MESSAGE_TYPE: MessageType.ACK})
    assert toward_client(renew, links).to == "unicast"
    assert toward_client(DhcpPacket(op=Op.BOOTREPLY, giaddr=A("10.0.2.1")), links) is None


def test_renew_on_demand_is_a_unicast_request():
    net = Net()
    net.deliver(net.client.start(0.0), 0.0)
    net.sent.clear()
    done = net.deliver(net.client.renew(3.0), 3.0)
    assert net.sent[0].to == A("10.0.3.60") and net.sent[0].packet.ciaddr == A("10.0.1.100")
    assert any(isinstance(a, Bind) for a in done) and net.client.deadline == 53.0
    assert DhcpClient(MAC).renew(0.0) == []  # nothing to renew before a lease

"""The server's state machine, message by message (RFC 2131 section 4.3), with no sockets and no clock."""

from __future__ import annotations

import logging
from ipaddress import IPv4Address, IPv4Interface

import pytest

from services.dhcp.leases import BOUND, DECLINED, RELEASED, LeaseJournal
from services.dhcp.packet import BROADCAST_FLAG, ZERO, DhcpPacket, MessageType, Opt
from services.dhcp.pools import ConfigError, parse_config
from services.dhcp.server import DhcpServer

A = IPv4Address
SID = A("10.0.3.60")
ON_SERVERS = IPv4Interface("10.0.3.60/24")  # the server's own interface
T0 = 1_000_000.0

CONFIG = {
    "lease_time": 600,
    "pools": [
        {"subnet": "10.0.1.0/24", "range": "10.0.1.100-10.0.1.104", "exclude": ["10.0.1.101"],
         "router": "10.0.1.1", "dns": ["10.0.3.53"], "domain": "campus.lab",
         "reservations": [{"mac": "02:00:00:00:00:99", "address": "10.0.1.50"}]},
        {"subnet": "10.0.2.0/24", "range": "10.0.2.100-10.0.2.109", "router": "10.0.2.1", "renew": 5,
         "rebind": 8, "lease_time": 10},
        {"subnet": "10.0.3.0/24", "range": "10.0.3.61-10.0.3.62", "router": "10.0.3.1"},
    ],
}


def mac(n: int) -> bytes:
    return bytes([2, 0, 0, 0, 0, n])


def msg(kind: MessageType, n: int, xid: int = 1, giaddr: str = "10.0.1.1", flags: int = 0,
        ciaddr: str = "0.0.0.0", **opts) -> DhcpPacket:
    options: dict[int, object] = {Opt.MESSAGE_TYPE: kind}
    if "requested" in opts:
        options[Opt.REQUESTED_IP] = A(opts["requested"])
    if "server" in opts:
        options[Opt.SERVER_ID] = A(opts["server"])
    if "client_id" in opts:
        options[Opt.CLIENT_ID] = opts["client_id"]
    return DhcpPacket(xid=xid, chaddr=mac(n), giaddr=A(giaddr), flags=flags, ciaddr=A(ciaddr), options=options)


@pytest.fixture
def server() -> DhcpServer:
    return DhcpServer(parse_config(CONFIG))


def dora(server: DhcpServer, n: int, now: float = T0, giaddr: str = "10.0.1.1") -> IPv4Address:
    offer = server.handle(msg(MessageType.DISCOVER, n, giaddr=giaddr), now, ON_SERVERS)
    assert offer is not None and offer.packet.message_type == MessageType.OFFER
    ack = server.handle(msg(MessageType.REQUEST, n, giaddr=giaddr, requested=str(offer.packet.yiaddr),
                            server=str(SID)), now, ON_SERVERS)
    assert ack is not None and ack.packet.message_type == MessageType.ACK
    assert ack.packet.yiaddr == offer.packet.yiaddr
    return ack.packet.yiaddr


def test_discover_gets_an_offer_with_every_option(server):
    reply = server.handle(msg(MessageType.DISCOVER, 1, xid=0xABCD), T0, ON_SERVERS)
    assert reply is not None
    p = reply.packet
    assert p.message_type == MessageType.OFFER and p.xid == 0xABCD and p.chaddr == mac(1)
    assert p.yiaddr == A("10.0.1.100") and p.giaddr == A("10.0.1.1")
    o = p.options
    assert o[Opt.SERVER_ID] == SID and o[Opt.SUBNET_MASK] == A("255.255.255.0")
    assert o[Opt.ROUTER] == [A("10.0.1.1")] and o[Opt.DNS_SERVERS] == [A("10.0.3.53")]
    assert o[Opt.DOMAIN_NAME] == "campus.lab"
    assert (o[Opt.LEASE_TIME], o[Opt.RENEWAL_TIME], o[Opt.REBINDING_TIME]) == (600, 300, 525)
    assert (reply.to, reply.ip) == ("relay", A("10.0.1.1"))  # relayed: back to giaddr
    assert server.take_changes() == []  # an offer is not a lease: nothing to write


def test_request_commits_the_lease_and_acks(server):
    ip = dora(server, 1)
    [lease] = server.take_changes()
    assert (lease.ip, lease.mac, lease.state, lease.expires) == (ip, "02:00:00:00:00:01", BOUND, T0 + 600)


def test_reply_destinations_follow_rfc_2131_section_4_1(server):
    here = dict(giaddr="0.0.0.0")
    r = server.handle(msg(MessageType.DISCOVER, 1, **here), T0, ON_SERVERS)
    assert (r.to, r.ip, r.mac) == ("hardware", r.packet.yiaddr, mac(1))  # no address yet, flag clear
    r = server.handle(msg(MessageType.DISCOVER, 2, flags=BROADCAST_FLAG, **here), T0, ON_SERVERS)
    assert (r.to, r.ip) == ("broadcast", A("255.255.255.255"))
    assert r.packet.yiaddr in parse_config(CONFIG).pools[2].subnet  # the server's own segment's pool
    ip = dora(server, 3)
    r = server.handle(msg(MessageType.REQUEST, 3, giaddr="0.0.0.0", ciaddr=str(ip)), T0 + 300, ON_SERVERS)
    assert (r.to, r.ip, r.packet.message_type) == ("unicast", ip, MessageType.ACK)


def test_pool_is_chosen_by_giaddr(server):
    assert dora(server, 1, giaddr="10.0.2.1") == A("10.0.2.100")
    assert dora(server, 2, giaddr="10.0.1.1") == A("10.0.1.100")
    assert server.handle(msg(MessageType.DISCOVER, 3, giaddr="192.168.9.1"), T0, ON_SERVERS) is None


def test_exclusions_are_skipped_and_reservations_honoured(server):
    got = [dora(server, n) for n in (1, 2, 3)]
    assert got == [A("10.0.1.100"), A("10.0.1.102"), A("10.0.1.103")]  # .101 is excluded
    assert dora(server, 0x99) == A("10.0.1.50")  # reserved for this MAC, outside the range
    # nobody else is ever offered a reserved address, even when they ask for it
    r = server.handle(msg(MessageType.DISCOVER, 4, requested="10.0.1.50"), T0, ON_SERVERS)
    assert r.packet.yiaddr == A("10.0.1.104")


def test_exhausted_pool_makes_no_offer_and_says_why(server, caplog):
    for n in range(1, 5):
        dora(server, n)
    with caplog.at_level(logging.WARNING, logger="dhcp.server"):
        assert server.handle(msg(MessageType.DISCOVER, 9), T0, ON_SERVERS) is None
    assert "pool 10.0.1.0/24 is exhausted" in caplog.text and "02:00:00:00:00:09" in caplog.text


def test_outstanding_offers_are_not_offered_twice(server):
    a = server.handle(msg(MessageType.DISCOVER, 1), T0, ON_SERVERS).packet.yiaddr
    b = server.handle(msg(MessageType.DISCOVER, 2), T0, ON_SERVERS).packet.yiaddr
    assert a != b
    # the same client asking again is offered the same address
    assert server.handle(msg(MessageType.DISCOVER, 1, xid=2), T0 + 1, ON_SERVERS).packet.yiaddr == a
    # once the offer lapses (60 s) the address goes to someone else
    server.expire(T0 + 61)
    later = {server.handle(msg(MessageType.DISCOVER, n), T0 + 62, ON_SERVERS).packet.yiaddr for n in (3, 4)}
    assert later == {a, b}


def test_returning_client_gets_its_address_back(server):
    ip = dora(server, 1)
    dora(server, 2)
    assert dora(server, 1, now=T0 + 100) == ip
    # identified by client-identifier (option 61) when it sends one, whatever its MAC
    r = server.handle(msg(MessageType.DISCOVER, 7, client_id=b"\x01laptop"), T0, ON_SERVERS)
    server.handle(msg(MessageType.REQUEST, 7, requested=str(r.packet.yiaddr), server=str(SID),
                      client_id=b"\x01laptop"), T0, ON_SERVERS)
    again = server.handle(msg(MessageType.DISCOVER, 8, client_id=b"\x01laptop"), T0, ON_SERVERS)
    assert again.packet.yiaddr == r.packet.yiaddr


def test_request_for_another_server_withdraws_our_offer(server):
    offered = server.handle(msg(MessageType.DISCOVER, 1), T0, ON_SERVERS).packet.yiaddr
    assert server.handle(msg(MessageType.REQUEST, 1, requested="10.0.1.200", server="10.0.3.99"),
                         T0, ON_SERVERS) is None
    assert offered not in server.offers


def test_request_for_an_unavailable_address_is_naked(server):
    ip = dora(server, 1)
    r = server.handle(msg(MessageType.REQUEST, 2, requested=str(ip), server=str(SID)), T0, ON_SERVERS)
    assert r.packet.message_type == MessageType.NAK and r.packet.yiaddr == ZERO
    assert r.to == "relay" and r.packet.broadcast  # the relay must broadcast a NAK
    r = server.handle(msg(MessageType.REQUEST, 2, giaddr="0.0.0.0", requested="10.0.3.61", server="10.0.3.60"),
                      T0, ON_SERVERS)
    assert r.packet.message_type == MessageType.ACK
    r = server.handle(msg(MessageType.REQUEST, 3, giaddr="0.0.0.0", requested="10.0.3.61", server="10.0.3.60"),
                      T0, ON_SERVERS)
    assert (r.packet.message_type, r.to) == (MessageType.NAK, "broadcast")


def test_init_reboot(server):
    ip = dora(server, 1)
    ok = server.handle(msg(MessageType.REQUEST, 1, requested=str(ip)), T0 + 10, ON_SERVERS)
    assert ok.packet.message_type == MessageType.ACK and ok.packet.yiaddr == ip
    moved = server.handle(msg(MessageType.REQUEST, 1, requested="10.0.2.100"), T0, ON_SERVERS)
    assert moved.packet.message_type == MessageType.NAK  # the client moved to another network
    # a client the server has no record of gets silence (RFC 2131 section 4.3.2)
    assert server.handle(msg(MessageType.REQUEST, 5, requested="10.0.1.103"), T0, ON_SERVERS) is None


def test_renewal_extends_the_lease_and_a_stranger_is_naked(server):
    ip = dora(server, 1)
    server.take_changes()
    r = server.handle(msg(MessageType.REQUEST, 1, xid=9, giaddr="0.0.0.0", ciaddr=str(ip)), T0 + 300,
                      ON_SERVERS)
    assert (r.packet.message_type, r.to, r.ip, r.packet.xid) == (MessageType.ACK, "unicast", ip, 9)
    [lease] = server.take_changes()
    assert lease.expires == T0 + 300 + 600
    r = server.handle(msg(MessageType.REQUEST, 2, giaddr="0.0.0.0", ciaddr=str(ip)), T0 + 300, ON_SERVERS)
    assert r.packet.message_type == MessageType.NAK


def test_decline_keeps_the_address_out_until_the_hold_ends(server):
    ip = dora(server, 1)
    server.handle(msg(MessageType.DECLINE, 1, requested=str(ip), server=str(SID)), T0, ON_SERVERS)
    assert server.leases[ip].state == DECLINED
    assert server.handle(msg(MessageType.DISCOVER, 1, xid=3), T0 + 1, ON_SERVERS).packet.yiaddr != ip
    for n in (2, 3, 4):
        server.handle(msg(MessageType.DISCOVER, n), T0 + 2, ON_SERVERS)
    later = [server.handle(msg(MessageType.DISCOVER, n), T0 + 700, ON_SERVERS) for n in (5,)]
    assert later[0].packet.yiaddr == ip  # hold over (600 s): the address is usable again


def test_a_decline_from_a_client_never_offered_the_address_is_ignored(server):
    pool = [A(f"10.0.2.{i}") for i in range(100, 110)]  # the 10-address pool behind relay 10.0.2.1
    for n, ip in enumerate(pool, 10):  # each stranger declines an address it was never offered
        server.handle(msg(MessageType.DECLINE, n, giaddr="10.0.2.1", requested=str(ip), server=str(SID)), T0,
                      ON_SERVERS)
    assert server.take_changes() == [] and not any(x.state == DECLINED for x in server.leases.values())
    assert dora(server, 1, giaddr="10.0.2.1") == pool[0]  # the pool is whole


def test_a_decline_of_someone_elses_offer_or_lease_is_ignored(server):
    ip = dora(server, 1)
    offer = server.handle(msg(MessageType.DISCOVER, 2), T0, ON_SERVERS).packet.yiaddr
    server.take_changes()
    for victim in (ip, offer):
        server.handle(msg(MessageType.DECLINE, 3, requested=str(victim), server=str(SID)), T0, ON_SERVERS)
    assert server.take_changes() == [] and server.leases[ip].state == BOUND
    server.handle(msg(MessageType.DECLINE, 2, requested=str(offer), server=str(SID)), T0, ON_SERVERS)
    assert server.leases[offer].state == DECLINED  # the client it was offered to may decline it


def test_declines_for_addresses_of_no_pool_keep_nothing(server):
    for i in range(2000):
        bogus = A(int(A("172.16.0.0")) + i)
        server.handle(msg(MessageType.DECLINE, i % 200, requested=str(bogus), server=str(SID)), T0, ON_SERVERS)
    assert server.take_changes() == [] and len(server.leases) == 0


def test_release_frees_the_address_but_remembers_the_client(server):
    ip = dora(server, 1)
    server.handle(msg(MessageType.RELEASE, 1, ciaddr=str(ip), server=str(SID)), T0 + 5, ON_SERVERS)
    assert server.leases[ip].state == RELEASED
    assert server.take_changes()[-1].state == RELEASED
    assert dora(server, 1, now=T0 + 6) == ip  # the same client prefers its old address
    # someone else's RELEASE of it is ignored
    server.handle(msg(MessageType.RELEASE, 2, ciaddr=str(ip)), T0 + 7, ON_SERVERS)
    assert server.leases[ip].state == BOUND


def test_inform_gets_options_but_no_lease(server):
    r = server.handle(msg(MessageType.INFORM, 1, giaddr="0.0.0.0", ciaddr="10.0.1.77"), T0, ON_SERVERS)
    p = r.packet
    assert p.message_type == MessageType.ACK and p.yiaddr == ZERO
    assert Opt.LEASE_TIME not in p.options and p.options[Opt.ROUTER] == [A("10.0.1.1")]
    assert (r.to, r.ip) == ("unicast", A("10.0.1.77"))
    assert server.take_changes() == []


def test_expired_lease_is_reclaimed_when_the_pool_runs_out(server):
    ips = [dora(server, n, giaddr="10.0.2.1") for n in range(1, 11)]  # the 10-address pool, 10 s leases
    assert server.handle(msg(MessageType.DISCOVER, 20, giaddr="10.0.2.1"), T0 + 5, ON_SERVERS) is None
    got = server.handle(msg(MessageType.DISCOVER, 20, giaddr="10.0.2.1"), T0 + 11, ON_SERVERS)
    assert got is not None and got.packet.yiaddr == ips[0]  # the lease that ended longest ago
    lapsed = server.expire(T0 + 11)
    assert len(lapsed) == 10


def test_leases_survive_a_restart(tmp_path):
    journal = LeaseJournal(tmp_path / "leases.jsonl")
    first = DhcpServer(parse_config(CONFIG), journal.load())
    ips = {n: dora(first, n) for n in (1, 2, 3)}
    journal.append(first.take_changes())
    first.handle(msg(MessageType.RELEASE, 3, ciaddr=str(ips[3])), T0 + 1, ON_SERVERS)
    journal.append(first.take_changes())
    journal.close()
    with open(tmp_path / "leases.jsonl", "a") as f:
        f.write('{"ip": "10.0.1.1')  # a record cut short by a crash
    again = LeaseJournal(tmp_path / "leases.jsonl").load()
    second = DhcpServer(parse_config(CONFIG), again)
    assert {ip for ip, x in again.items() if x.state == BOUND} == {ips[1], ips[2]}
    assert dora(second, 2, now=T0 + 10) == ips[2]  # the returning client gets its address back
    assert dora(second, 9, now=T0 + 10) not in (ips[1], ips[2])  # and nobody gets a bound address


def test_journal_compaction_keeps_the_last_state(tmp_path):
    path = tmp_path / "leases.jsonl"
    journal = LeaseJournal(path)
    server = DhcpServer(parse_config(CONFIG))
    ip = dora(server, 1)
    for i in range(1100):  # renewals append records for the same lease
        server.handle(msg(MessageType.REQUEST, 1, giaddr="0.0.0.0", ciaddr=str(ip)), T0 + i, ON_SERVERS)
    journal.append(server.take_changes())
    assert journal.maybe_compact(server.leases)
    assert len(path.read_text().splitlines()) == 1
    assert LeaseJournal(path).load()[ip].expires == T0 + 1099 + 600


@pytest.mark.parametrize("config, says", [
    ({}, "no `pools:`"),
    ({"pools": [{"range": "10.0.1.5-10.0.1.9"}]}, "needs `subnet:`"),
    ({"pools": [{"subnet": "10.0.1.0/24", "range": "10.0.2.5-10.0.2.9"}]}, "not inside subnet"),
    ({"pools": [{"subnet": "10.0.1.0/24", "range": "10.0.1.9-10.0.1.5"}]}, "ends before it starts"),
    ({"pools": [{"subnet": "10.0.1.0/24"}, {"subnet": "10.0.1.0/25"}]}, "overlap"),
    ({"pools": [{"subnet": "10.0.1.0/24", "router": "ten"}]}, "not an IPv4 address"),
])
def test_config_mistakes_are_one_line(config, says):
    with pytest.raises(ConfigError, match=says) as e:
        parse_config(config, "server.yaml")
    assert "\n" not in str(e.value)

"""Scenarios: bring a lab up, drive traffic on its nodes, capture on its segments, assert from the pcaps.

Two packages, so a reader sees at once which is which:

- `scenarios.course`: the course's content, one module per scenario (ARP, DHCP, DNS, sockets, ...).
- `scenarios.framework`: the machinery they are written with (runner, context, captures read as
  frames and as TCP/UDP dialogues, assertions, protocol describers, ladders, reports, the CLI). Its
  docstring is the guide to writing a scenario.

    wirelab scenario list                                   # name, lab, what it shows
    wirelab scenario run NAME... | --all | --lab campus [--backend netns] [--out DIR] [--lab-file FILE]
"""

"""wirelab's lab engine: the lab model, its loader, addressing and routing, the backends that realise
it and own its nodes' processes, and the supervisor that keeps services running on their nodes.

Nothing in this package knows what a protocol is: services, backends and CLI extensions are
discovered through entry points (`wirelab.services`, `wirelab.backends`, `wirelab.commands`).
"""

"""wirelab's lab engine: the lab model, its loader, addressing and routing, and the backends that realise it.

Nothing in this package knows what a protocol is: services and CLI extensions are discovered through
entry points (`wirelab.services`, `wirelab.commands`).
"""

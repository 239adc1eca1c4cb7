"""POP3 (RFC 1939) in captures: one message a line (a multi-line reply shows as its lines); what RETR
returned is taken out by describers.smtp.retrieved."""

from .lines import LineProtocol

DESCRIBER = LineProtocol("pop3", ports=(110,))

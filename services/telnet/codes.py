"""The Telnet command and option codes (RFC 854's table, the IANA option numbers) and their names."""

from __future__ import annotations

# RFC 854: the commands, each introduced by IAC
SE, NOP, DM, BRK, IP, AO, AYT, EC, EL, GA, SB, WILL, WONT, DO, DONT, IAC = range(240, 256)

COMMANDS = {
    SE: "SE", NOP: "NOP", DM: "DM", BRK: "BRK", IP: "IP", AO: "AO", AYT: "AYT", EC: "EC", EL: "EL",
    GA: "GA", SB: "SB", WILL: "WILL", WONT: "WONT", DO: "DO", DONT: "DONT", IAC: "IAC",
}
# what each stands for, as the course's table says it
MEANINGS = {
    SE: "End of subnegotiation parameters", NOP: "No operation", DM: "Data Mark", BRK: "Break",
    IP: "Interrupt Process", AO: "Abort output", AYT: "Are You There", EC: "Erase character",
    EL: "Erase Line", GA: "Go ahead", SB: "Subnegotiation", WILL: "WILL", WONT: "WON'T", DO: "DO",
    DONT: "DON'T", IAC: "Data Byte 255",
}
VERBS = (WILL, WONT, DO, DONT)

BINARY, ECHO, SGA, STATUS, TIMING_MARK = 0, 1, 3, 5, 6
TTYPE, NAWS, TSPEED, LFLOW, LINEMODE, XDISPLOC, OLD_ENVIRON, AUTHENTICATION, ENCRYPT, NEW_ENVIRON = (
    24, 31, 32, 33, 34, 35, 36, 37, 38, 39)

OPTIONS = {
    BINARY: "BINARY", ECHO: "ECHO", SGA: "SUPPRESS-GO-AHEAD", STATUS: "STATUS", TIMING_MARK: "TIMING-MARK",
    TTYPE: "TERMINAL-TYPE", NAWS: "NAWS", TSPEED: "TERMINAL-SPEED", LFLOW: "TOGGLE-FLOW-CONTROL",
    LINEMODE: "LINEMODE", XDISPLOC: "X-DISPLAY-LOCATION", OLD_ENVIRON: "OLD-ENVIRON",
    AUTHENTICATION: "AUTHENTICATION", ENCRYPT: "ENCRYPT", NEW_ENVIRON: "NEW-ENVIRON",
}

# RFC 1091: the two subnegotiation codes of TERMINAL-TYPE
TTYPE_IS, TTYPE_SEND = 0, 1


def command_name(code: int) -> str:
    return COMMANDS.get(code, str(code))


def option_name(code: int) -> str:
    return OPTIONS.get(code, str(code))

"""Zones and answers: a Zone puts datasets under a DNS name (zone), answer keeps the
apex and expiry rules and asks the compiled decision (rblmirror._dnsfast) for every name
below a zone, counters holds the server's counter schema, wire the dnslib reference path
(parse, pack, respond), reload the served zone table, sockets the listeners, signals the
held signals, server the asyncio loop and supervisor serve() and its worker processes.
Imports data, never mirror, tools or cli."""

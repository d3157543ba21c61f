"""Zones and answers: a Zone puts datasets under a DNS name (zone), answer keeps the
apex and expiry rules and asks the compiled decision (rblmirror._dnsfast) for every name
below a zone, counters holds the server's counter schema, server the dnslib reference
path, the reload table, the sockets and the worker processes. Imports data, never mirror,
tools or cli."""

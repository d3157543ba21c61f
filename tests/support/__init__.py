"""What the tests and benchmarks share (one home each; tests/ is on pytest's pythonpath for
both runs, so `from support.dns import query` works from tests/ and benchmarks/):

    ports      free loopback ports (UDP, TCP, both)
    tools      the one required-tool rule: find a program or skip (CI=true: ci_rule fails it)
    poll       until(): a bounded wait for a condition
    processes  stopping a child process; reading /proc (VmRSS, CPU, ids)
    dns        one DNS client: UDP and TCP questions, a dig wrapper, comparable summaries
    rbldnsd    the real rbldnsd on loopback (the oracle)
    serve      our server, `rblmirror serve`, as a process on loopback
    rsyncd     a real `rsync --daemon` on loopback
    httpd      a loopback HTTP server (a thread) with ETag / Last-Modified
    netns      a private network namespace
    lan        a LAN of namespaces (one per host, veth + bridge), each on its own address
    replicalab a primary, two replicas and dnsdist on such a LAN (the README's topology)
    dnsperf    dnsperf's report, read
    maillab    a whole mail host (our server, unbound, Postfix) in a namespace
    eximlab    the same with Debian's Exim (unpacked) instead of Postfix
    rspamdlab  our server and Debian's rspamd in a namespace
    mailzones  the zones the mail tests serve, the README's snippet blocks for them
    cli        the rblmirror command: argv for a process, in-process CliRunner calls
    mirror     a mirror config per test and what its state dir holds
    feeds      the real dumps in ../shared/data (read in place, never copied in)
    users      running a child as another user (a Python it can reach)
    reference  plain reference implementations the compiled code is held to
    tier       the guard of the fast tier: a test that starts a process must be
               marked `integration`
"""

#!/bin/sh
# A user's own diagnostic: reads the IP-HTTPS interface through netsh (the lab's shim)
# and says whether forwarding and advertising are enabled.
# Environment from the runner: IPHTTPS_URL, IPHTTPS_ADMIN, IPHTTPS_CA.
set -u
out=$(netsh int ipv6 show int 17) || { echo "cannot run netsh"; exit 2; }
status=0
echo "$out" | grep -q "^Forwarding *: enabled" || { echo "Forwarding is disabled on IPHTTPSInterface"; status=1; }
echo "$out" | grep -q "^Advertising *: enabled" || { echo "Advertising is disabled on IPHTTPSInterface"; status=1; }
[ -f "$IPHTTPS_CA" ] || { echo "no CA at $IPHTTPS_CA"; status=1; }
[ "$status" -eq 0 ] && echo "IP-HTTPS interface looks healthy ($IPHTTPS_URL)"
exit "$status"

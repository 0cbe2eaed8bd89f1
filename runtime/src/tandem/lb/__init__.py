"""Load balancing: virtual servers, their real servers' health state, and the data planes that carry
the traffic (IPVS, nftables). See docs/load-balancing.md for how the pieces fit."""

#!/bin/sh
# Shipped by the tandemd role from the controller. keepalived's notify: TYPE NAME STATE PRIORITY.
# Keeps the last state of each instance where the scenario reads it.
printf '%s %s\n' "$3" "$4" > "/run/tandem/notify-$2"

"""Tracking: vrrp_script, track_interface and track_file turned into priority/FAULT decisions.

tracker.Tracking   — pure: observations in (script_result, link_state, file_value), Decisions out
script.ScriptRunner, files.FileWatcher, links.LinkMonitor — asyncio runners reporting observations
"""

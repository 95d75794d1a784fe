"""Hosts as users build them: each folder here is a small app written as the docs tell a user to
write it, run in processes of its own with its real server and worker commands, never imported
into the pytest process."""

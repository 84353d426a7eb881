"""The demo: a deterministic synthetic municipality, its enrolment into a deployment, and simulated member
systems answering the hub from it (issue 3). See ``docs/demo.md``."""

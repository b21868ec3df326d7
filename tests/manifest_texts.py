"""Small valid manifests that the invalid cases start from."""

RIG = """\
apiVersion: gt/v1
kind: Rig
metadata:
  name: csm
spec:
  repo: ../csm
  beads: {prefix: cs}
"""

CONVOY = """\
apiVersion: gt/v1
kind: Convoy
metadata:
  name: auth
spec:
  rig: csm
  issues: [cs-login, cs-session]
"""

ROUTING = """\
apiVersion: gt/v1
kind: Routing
metadata:
  name: default
spec:
  default: sonnet
  agents:
    claude: {command: [claude]}
  models:
    sonnet: {agent: claude, args: [--model, sonnet]}
  rules:
    - {when: {label: "model:sonnet"}, model: sonnet}
"""

"""Blood flow. ``organtwin.flow.zerod``: lumped-parameter (0D) circulation."""

from . import zerod as zerod

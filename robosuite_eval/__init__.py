"""Scripted RoboSuite experts, suboptimal bench trajectories and policy rollouts.

Importing the package quiets two sources of noise before anything loads them: the SVT-AV1 encoder
(lerobot's video writer) logs ~20 `Svt[info]` lines per video unless SVT_LOG says otherwise (1: errors
only; a user's own setting wins), and robosuite's logger prints each warning twice (its own handler,
then again through the root logger once anything configured one) unless it stops propagating.
"""

import logging
import os

os.environ.setdefault("SVT_LOG", "1")
logging.getLogger("robosuite_logs").propagate = False

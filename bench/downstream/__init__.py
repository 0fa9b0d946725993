"""Downstream proof (paper §5.2, appendix E, Figure 6): does weighting BC by values make a better policy?

First with ground-truth values (is there headroom at all?), then with each value model's (how much of it
does a model capture?). The data flow, one module each:

    data        generate v2 suboptimal / expert / held-out episodes per task; label every value column
    arms        the arms (weighting x values) and settings; train one arm-seed, pick its checkpoint, roll out
    report      success with Wilson intervals; paired differences with a two-level bootstrap
    pilot       pre-registered: which setting shows ground-truth headroom (BC and ground-truth arms only)
    grid        every arm in the chosen setting, >= 3 tasks x 3 seeds x 50 paired trials
    separation  a noise-free proxy: how well each source's Δ separates stalls/retractions from progress

    python -m bench.downstream.pilot        # bench/results/downstream_pilot_v3.{json,md} (rounds 1 and 2)
    python -m bench.downstream.grid         # bench/results/downstream.{json,md,png}
    python -m bench.downstream.separation   # bench/results/chunk_separation.{json,md}

Every stage is cached under --work (default /work/wvmdata/downstream_v3, outside the repository so that a
fresh checkout keeps it) and a rerun resumes. The learner is `policy_ft`'s MLP chunk policy on state inputs
(observation.state + observation.environment_state): rollouts render nothing. The pilot's round 2 (registered after
round 1's learners failed the bc_expert gate on the pick-and-place tasks) tries lerobot ACT on the same inputs. The v1 grid (ACT small, v1
data) is kept in bench/results/downstream_v1.*; its code is in the repository's history.
"""

"""Rules ``fold_summary``, ``aggregate``, ``compare``, ``leakage_audit``, ``protocol_comparison``
and ``explain``: numbers from the runs.

- :mod:`.aggregate`  tidy tables of every run and round
- :mod:`.stats`      paired differences, intervals and tests against the baselines
- :mod:`.arms`       the augmentation arms against the plain baseline and each other
- :mod:`.answer`     the report's first screen, in words and a table
- :mod:`.audit`      the leakage audit: no test or validation image in any training set
- :mod:`.protocols`  the thesis's flawed protocol beside the honest one
- :mod:`.explain`    CAM quality (ROAD, confidence change) of every final model
"""

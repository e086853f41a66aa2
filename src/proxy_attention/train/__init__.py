"""Rules ``train_round`` (round 0, baseline, proxy and matched rounds) and ``find_batch_size``.

- :mod:`.trainer`   resumable training rounds and evaluation (``TrainSettings``, ``train_round``)
- :mod:`.trainset`  a round's training set: the fold's images plus proxies (or matched extras)
- :mod:`.predictions` the misclassified search's predictions and losses, recorded in the checkpoint for the proxy step
- :mod:`.schedule`  parse ``[2, p, 2, p, 2]`` schedules
- :mod:`.batchsize` the thesis's batch size finder (``training.batch_size: auto``)
"""

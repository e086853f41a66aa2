"""Rules ``prepare_dataset``, ``index_dataset``, ``split_dataset``, ``cache_images``: the data
before any model sees it.

- :mod:`.datasets`   published datasets: registry, download, archives, converters, digits
- :mod:`.index`      index an image folder and validate every image
- :mod:`.split`      held-out test split plus stratified k folds, seeded
- :mod:`.imagecache` every image decoded once into a uint8 array on disk
- :mod:`.tensors`    a fold's images as uint8 NCHW tensors, proxy images, normalisation
- :mod:`.duplicates` content hashes: exact-pixel and perceptual duplicates between test and training
"""

"""training.batch_size: auto -- find the largest batch that trains without running out of memory."""

import torch

from proxy_attention.logs import end_job, setup_logging
from proxy_attention.train.batchsize import batch_size_file
from proxy_attention.train.settings import TrainSettings

setup_logging(snakemake.log[0])
torch.set_num_threads(snakemake.params.torch_threads)  # the config's, not --cores
# an ImageNet-sized head: the file serves every dataset, and no dataset's head is much larger
settings = TrainSettings(**snakemake.params.settings, num_classes=1000, classes=[])
batch_size_file(settings, snakemake.params.device, snakemake.params.max_batch_size, snakemake.output[0])
if __name__ == "__main__":
    end_job()  # skip the interpreter's teardown of torch (about 1 s per job)

# Published datasets: fetch each archive once into resources/downloads/<dataset>/<file>.
#
# The official URL, or the dataset's `source:` (a mirror path or URL), is read
# by the download script, which verifies the checksum before the file appears
# under its final name. A second run, or a re-extraction after
# resources/datasets/<dataset> was deleted, finds the archive here and fetches
# nothing. Built-in datasets and `type: folder` need no download.

from proxy_attention.data.datasets.registry import remote_checksum


rule download:
    output:
        "resources/downloads/{dataset}/{filename}",
    log:
        log_path("download", "{dataset}/{filename}"),
    benchmark:
        benchmark_path("download", "{dataset}/{filename}")
    wildcard_constraints:
        filename=r"[^/]+",
    localrule: True
    conda:
        ENV
    params:
        # The location (official URL or source:) is read by the script from the config, so that
        # moving to a mirror does not fetch again; a new checksum does.
        checksum=lambda w: remote_checksum(
            w.dataset, dataset_options(w.dataset), w.filename
        ),
    script:
        "../scripts/download.py"

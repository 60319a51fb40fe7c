"""Real data embedded in the package.

``KDDTrain+_20Percent.txt.gz`` is the NSL-KDD 20% training file (Tavallaee,
Bagheri, Lu and Ghorbani, "A Detailed Analysis of the KDD CUP 99 Data Set",
CISDA 2009), gzipped, its content unmodified: 25,192 headerless records of 41
features, the attack name and a difficulty score. Published by its authors for
research use; cite them when reporting results.
"""

from importlib import resources

NSL_KDD_20 = "KDDTrain+_20Percent.txt.gz"


def demo_path():
    """Path of the embedded NSL-KDD 20% training file."""
    return resources.files(__name__) / NSL_KDD_20


def load_demo(**options):
    """Load the embedded NSL-KDD file with the ``nsl-kdd`` profile (5 categories).

    Parameters
    ----------
    **options
        Further keyword arguments of :func:`aeids.load_table`.

    Returns
    -------
    Table
    """
    from ..io import load_table

    with resources.as_file(demo_path()) as path:
        return load_table(path, profile=options.pop("profile", "nsl-kdd"), **options)

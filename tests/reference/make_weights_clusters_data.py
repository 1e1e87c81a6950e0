"""Write data/sim_weights_clusters.csv, the simulated input of the weighted
and clustered lavaan references (weights_cluster_references.R).

Run from the repository root: python tests/reference/make_weights_clusters_data.py
"""

from pathlib import Path

import numpy as np

from lio_validate.simulate import organisation_model, simulate_responses

COLUMNS = ["ext1", "ext2", "ext3", "tra1", "tra2", "tra3", "par1", "par2", "par3",
           "aut1", "aut2", "aut3"]


def main() -> None:
    data = simulate_responses(organisation_model("example"), 3000, seed=5,
                              likert=False)
    rng = np.random.default_rng(3)
    frame = data[COLUMNS].round(5)
    frame["w"] = np.round(rng.gamma(2.0, 0.5, len(frame)), 4)
    frame["org"] = rng.integers(1, 121, len(frame))
    path = Path(__file__).resolve().parents[2] / "data" / "sim_weights_clusters.csv"
    frame.to_csv(path, index=False, lineterminator="\n")


if __name__ == "__main__":
    main()

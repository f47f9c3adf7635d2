import numpy as np
from sklearn.datasets import load_diabetes

d = load_diabetes(scaled=False)
header = ",".join([*d.feature_names, "progression"])
np.savetxt("diabetes.csv", np.column_stack([d.data, d.target]),
           delimiter=",", header=header, comments="", fmt="%.6g")

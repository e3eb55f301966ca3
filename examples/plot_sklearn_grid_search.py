"""
A scikit-learn pipeline with a grid search
==========================================

``FastbpClassifier`` takes scikit-learn's ``MLPClassifier`` parameters, so it fits in a
pipeline and a grid search unchanged. Here: standardised digits, a search over the hidden
layer's width and the L2 penalty ``alpha``, 3-fold cross-validation.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fastbp.sklearn import FastbpClassifier

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0, stratify=y)
pipeline = make_pipeline(StandardScaler(), FastbpClassifier(max_iter=100, random_state=0))
widths, alphas = [16, 64, 256], [1e-4, 1e-2, 1.0]
grid = {"fastbpclassifier__hidden_layer_sizes": [(width,) for width in widths],
        "fastbpclassifier__alpha": alphas}
# 100 epochs stop some of the grid's fits before scikit-learn's tolerance is met: enough
# for the comparison, so their ConvergenceWarnings are left out of the output
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    search = GridSearchCV(pipeline, grid, cv=3).fit(X_train, y_train)
print("best:", search.best_params_, f"cross-validated accuracy {search.best_score_:.3f}")
print(f"test accuracy {search.score(X_test, y_test):.3f}")

# %%
# Mean cross-validated accuracy over the grid: a row per width, a column per alpha, each
# cell placed by the parameters ``cv_results_`` lists beside its score.

scores = np.empty((len(widths), len(alphas)))
for params, score in zip(search.cv_results_["params"], search.cv_results_["mean_test_score"]):
    width = params["fastbpclassifier__hidden_layer_sizes"][0]
    scores[widths.index(width), alphas.index(params["fastbpclassifier__alpha"])] = score
figure, ax = plt.subplots(figsize=(4.5, 3.5))
image = ax.imshow(scores, cmap="viridis")
ax.set_xticks(range(len(alphas)), [f"{alpha:g}" for alpha in alphas])
ax.set_yticks(range(len(widths)), [str(width) for width in widths])
ax.set(xlabel="alpha", ylabel="hidden units")
for (i, j), value in np.ndenumerate(scores):
    ax.text(j, i, f"{value:.3f}", ha="center", va="center", color="white")
figure.colorbar(image)
figure.tight_layout()

"""
A scikit-learn pipeline with a grid search
==========================================

``FastbpClassifier`` takes scikit-learn's ``MLPClassifier`` parameters, so it fits in a
pipeline and a grid search unchanged. Here: standardised digits, a search over the hidden
layer's width and the L2 penalty ``alpha``, 3-fold cross-validation.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fastbp.sklearn import FastbpClassifier

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0, stratify=y)
pipeline = make_pipeline(StandardScaler(), FastbpClassifier(max_iter=100, random_state=0))
grid = {"fastbpclassifier__hidden_layer_sizes": [(16,), (64,), (256,)],
        "fastbpclassifier__alpha": [1e-4, 1e-2, 1.0]}
search = GridSearchCV(pipeline, grid, cv=3).fit(X_train, y_train)
print("best:", search.best_params_, f"cross-validated accuracy {search.best_score_:.3f}")
print(f"test accuracy {search.score(X_test, y_test):.3f}")

# %%
# Mean cross-validated accuracy over the grid.

scores = search.cv_results_["mean_test_score"].reshape(3, 3)
figure, ax = plt.subplots(figsize=(4.5, 3.5))
image = ax.imshow(scores, cmap="viridis")
ax.set_xticks(range(3), ["1e-4", "1e-2", "1"])
ax.set_yticks(range(3), ["16", "64", "256"])
ax.set(xlabel="alpha", ylabel="hidden units")
for (i, j), value in np.ndenumerate(scores):
    ax.text(j, i, f"{value:.3f}", ha="center", va="center", color="white")
figure.colorbar(image)
figure.tight_layout()

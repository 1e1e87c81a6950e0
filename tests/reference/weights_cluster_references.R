# Reference fits with sampling weights and with cluster-robust inference, on
# simulated data written by make_weights_clusters_data.py (data/
# sim_weights_clusters.csv: 12 continuous items, weight w, cluster id org).
#
# Run from the repository root:  Rscript tests/reference/weights_cluster_references.R

local({
  file_arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  source(file.path(dirname(sub("^--file=", "", file_arg[1L])), "common.R"))
})

env <- new.env()
env$sim <- read_project_csv("sim_weights_clusters.csv")
sim_file <- "sim_weights_clusters.csv"

env$sim_model <- "ext =~ ext1 + ext2 + ext3
tra =~ tra1 + tra2 + tra3
par =~ par1 + par2 + par3
aut =~ aut1 + aut2 + aut3
aut ~ par + tra"

fit_and_write(
  "sim_weighted_ml",
  paste("Four-factor SEM on simulated data with sampling weights w (lavaan then",
        "uses Huber-White SEs and the Yuan-Bentler-Mplus test)"),
  'sem(sim_model, data = sim, sampling.weights = "w")', env$sim_model, env,
  options = list(weights = "w"), data_file = sim_file
)

fit_and_write(
  "sim_cluster_ml",
  paste("Four-factor SEM on simulated data with cluster-robust inference for",
        "the cluster id org (robust.cluster SEs, Yuan-Bentler-Mplus test)"),
  'sem(sim_model, data = sim, cluster = "org")', env$sim_model, env,
  options = list(cluster = "org"), data_file = sim_file
)

fit_and_write(
  "sim_weighted_cluster_mlr",
  "Four-factor SEM on simulated data with sampling weights w and clusters org, MLR",
  'sem(sim_model, data = sim, sampling.weights = "w", cluster = "org", estimator = "MLR")',
  env$sim_model, env,
  options = list(weights = "w", cluster = "org", estimator = "MLR"),
  data_file = sim_file
)

# A just-identified factor (df = 0): lavaan reports no scaling factor, so the
# scaled RMSEA and its interval are NA while the robust RMSEA is 0.
env$sim_df0_model <- "ext =~ ext1 + ext2 + ext3"
fit_and_write(
  "sim_onefactor_df0_weighted_mlr",
  "One factor with three indicators (df = 0) on simulated data with sampling weights w, MLR",
  'cfa(sim_df0_model, data = sim, sampling.weights = "w", estimator = "MLR")',
  env$sim_df0_model, env,
  options = list(weights = "w", estimator = "MLR"),
  data_file = sim_file
)

# Two groups (org even or odd) with sampling weights: lio_validate normalises
# the weights within each group, lavaan's sampling.weights.normalization =
# "group" (lavaan's default "total" gives other multi-group numbers).
env$sim_groups <- env$sim
env$sim_groups$grp <- ifelse(env$sim$org %% 2 == 0, "even", "odd")
fit_and_write(
  "sim_weighted_groups_mlr",
  paste("Four-factor SEM on simulated data in two groups (org even or odd) with",
        "sampling weights w normalised within each group and clusters org, MLR"),
  paste('sem(sim_model, data = sim_groups, sampling.weights = "w", group = "grp",',
        'cluster = "org", estimator = "MLR",',
        'sampling.weights.normalization = "group")'),
  env$sim_model, env,
  options = list(weights = "w", cluster = "org", group = "grp", estimator = "MLR"),
  data_file = sim_file,
  data_preparation = "grp = 'even' if org %% 2 == 0 else 'odd'"
)

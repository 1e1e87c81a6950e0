# Reference values for the post-estimation tools on fits with a sampling
# design or missing data: modification indices (modindices()), residuals
# (residuals() of type raw, cor and normalized), score tests of equality
# constraints (lavTestScore()) and a defined indirect effect.
#
# The fits use data/sim_weights_clusters.csv (sampling weight w, cluster id
# org; written by make_weights_clusters_data.py) and HSm, the
# Holzinger-Swineford data with 30 values of x1 and 30 of x5 set to NA as in
# robust_references.R. Where lavaan stops with an error (normalized residuals
# of a clustered fit), the file stores the error message instead.
#
# Run from the repository root:
#   Rscript tests/reference/postestimation_design_references.R

local({
  file_arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  source(file.path(dirname(sub("^--file=", "", file_arg[1L])), "common.R"))
})

env <- new.env()
env$sim <- read_project_csv("sim_weights_clusters.csv")
env$hs <- read_project_csv("holzinger_swineford_1939.csv")
sim_file <- "sim_weights_clusters.csv"
hs_file <- "holzinger_swineford_1939.csv"

env$sim_model <- "ext =~ ext1 + ext2 + ext3
tra =~ tra1 + tra2 + tra3
par =~ par1 + par2 + par3
aut =~ aut1 + aut2 + aut3
aut ~ par + tra"

env$hs_model <- "visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9"


# HSm: the same seed and draws as robust_references.R --------------------------

set.seed(1)
x1_rows <- sample(301, 30)
x5_rows <- sample(301, 30)
env$hsm <- env$hs
env$hsm$x1[x1_rows] <- NA
env$hsm$x5[x5_rows] <- NA
hsm_rows <- list(x1 = I(x1_rows), x5 = I(x5_rows))
hsm_preparation <- paste(
  "set.seed(1); x1_rows <- sample(301, 30); x5_rows <- sample(301, 30);",
  "hsm <- hs; hsm$x1[x1_rows] <- NA; hsm$x5[x5_rows] <- NA",
  "(R 4.2.2, default RNG kinds Mersenne-Twister / Inversion / Rejection).",
  "The rows are stored in extra$missing_rows_1based (1-based, in sample order)."
)


# Diagnostics --------------------------------------------------------------------

# One residuals() result as records: cov (and mean) per group label.
residual_parts <- function(res, fit) {
  one <- function(part) {
    kept <- part[intersect(c("cov", "mean"), names(part))]
    lapply(kept, function(m) {
      if (is.matrix(m)) matrix_record(m) else named_vector_record(m)
    })
  }
  if (lavInspect(fit, "ngroups") == 1L) return(one(res))
  lapply(res, one)
}

# residuals(fit, type = type), or the error lavaan stops with.
residual_entry <- function(fit, type) {
  tryCatch(
    list(values = residual_parts(residuals(fit, type = type), fit), error = ""),
    error = function(e) list(values = empty_object(), error = conditionMessage(e))
  )
}

diagnostics <- function(fit) {
  list(
    modindices = modindices(fit),
    modindices_call = "modindices(fit)",
    residuals_calls = 'residuals(fit, type = <"raw", "cor", "normalized">)',
    residuals_raw = residual_entry(fit, "raw"),
    residuals_cor = residual_entry(fit, "cor"),
    residuals_normalized = residual_entry(fit, "normalized")
  )
}

fiml_diagnostics <- function(fit) {
  c(diagnostics(fit),
    list(missing_rows_1based = hsm_rows,
         h1 = moments_record(lavInspect(fit, "h1"), fit)))
}


# Sampling weights and clusters -------------------------------------------------

fit_and_write(
  "sim_weighted_ml_diagnostics",
  paste("Four-factor SEM on simulated data with sampling weights w, with",
        "modification indices and raw, cor and normalized residuals"),
  'sem(sim_model, data = sim, sampling.weights = "w")', env$sim_model, env,
  options = list(weights = "w"), data_file = sim_file, extra = diagnostics
)

fit_and_write(
  "sim_cluster_ml_diagnostics",
  paste("Four-factor SEM on simulated data with cluster-robust inference for",
        "org, with modification indices and residuals (lavaan has no",
        "normalized residuals here)"),
  'sem(sim_model, data = sim, cluster = "org")', env$sim_model, env,
  options = list(cluster = "org"), data_file = sim_file, extra = diagnostics
)

fit_and_write(
  "sim_weighted_cluster_mlr_diagnostics",
  paste("Four-factor SEM on simulated data with sampling weights w and",
        "clusters org, MLR, with modification indices and residuals"),
  'sem(sim_model, data = sim, sampling.weights = "w", cluster = "org", estimator = "MLR")',
  env$sim_model, env,
  options = list(weights = "w", cluster = "org", estimator = "MLR"),
  data_file = sim_file, extra = diagnostics
)

# An indirect effect as a defined parameter, with the sandwich SE of the
# design (weights and clusters, MLR).
env$sim_model_indirect <- "ext =~ ext1 + ext2 + ext3
tra =~ tra1 + tra2 + tra3
par =~ par1 + par2 + par3
aut =~ aut1 + aut2 + aut3
par ~ a*tra
aut ~ b*par + c*tra
ind := a*b
total := a*b + c"

fit_and_write(
  "sim_weighted_cluster_mlr_indirect",
  paste("Mediation SEM (tra -> par -> aut) on simulated data with sampling",
        "weights w and clusters org, MLR, with the indirect and total effects",
        "as defined parameters"),
  'sem(sim_model_indirect, data = sim, sampling.weights = "w", cluster = "org", estimator = "MLR")',
  env$sim_model_indirect, env,
  options = list(weights = "w", cluster = "org", estimator = "MLR"),
  data_file = sim_file
)


# Complete data, robust estimators -------------------------------------------------

fit_and_write(
  "hs_cfa_mlr_diagnostics",
  paste("Holzinger-Swineford 3-factor CFA, MLR, with modification indices and",
        "residuals (normalized ones use sandwich standard errors)"),
  'cfa(hs_model, data = hs, estimator = "MLR")', env$hs_model, env,
  options = list(estimator = "MLR"), data_file = hs_file, extra = diagnostics
)


# FIML --------------------------------------------------------------------------

fit_and_write(
  "hsm_cfa_fiml_ml_diagnostics",
  paste("Holzinger-Swineford 3-factor CFA on HSm, ML with missing = 'ml'",
        "(FIML), with modification indices and residuals against the EM (h1)",
        "moments"),
  'cfa(hs_model, data = hsm, missing = "ml")', env$hs_model, env,
  options = list(missing = "ml"), data_file = hs_file,
  data_preparation = hsm_preparation, extra = fiml_diagnostics
)

fit_and_write(
  "hsm_cfa_fiml_mlr_diagnostics",
  paste("Holzinger-Swineford 3-factor CFA on HSm, MLR with missing = 'ml'",
        "(FIML), with modification indices and residuals against the EM (h1)",
        "moments"),
  'cfa(hs_model, data = hsm, estimator = "MLR", missing = "ml")', env$hs_model,
  env, options = list(estimator = "MLR", missing = "ml"), data_file = hs_file,
  data_preparation = hsm_preparation, extra = fiml_diagnostics
)


# Score tests under MLR with FIML ---------------------------------------------------

# The partable rows behind the .pN. labels of lavTestScore's table.
constraint_rows <- function(fit, labels) {
  pt <- parTable(fit)
  rows <- pt[match(labels, pt$plabel), c("lhs", "op", "rhs", "group")]
  if (anyNA(rows$lhs)) stop("a constraint label has no partable row")
  rows
}

# lavTestScore() of every == row (univariate), of all rows together (total),
# and of all rows of one parameter together (by parameter). lavaan warns that
# it falls back to the ordinary score test for a robust se; the warning text
# is stored.
score_tests <- function(fit) {
  warning_text <- character(0)
  quiet_score <- function(...) {
    withCallingHandlers(lavTestScore(fit, ...), warning = function(w) {
      warning_text <<- unique(c(warning_text, conditionMessage(w)))
      invokeRestart("muffleWarning")
    })
  }
  all_tests <- quiet_score()
  uni <- all_tests$uni
  left <- constraint_rows(fit, uni$lhs)
  right <- constraint_rows(fit, uni$rhs)
  univariate <- data.frame(
    lhs = left$lhs, op = left$op, rhs = left$rhs,
    group_lhs = group_text(fit, left$group), group_rhs = group_text(fit, right$group),
    X2 = uni$X2, df = uni$df, p_value = uni$p.value, stringsAsFactors = FALSE
  )
  key <- paste(left$lhs, left$op, left$rhs)
  parameters <- split(seq_along(key), factor(key, levels = unique(key)))
  by_parameter <- do.call(rbind, unname(lapply(parameters, function(release) {
    test <- quiet_score(release = release, univariate = FALSE)$test
    data.frame(lhs = left$lhs[release[1L]], op = left$op[release[1L]],
               rhs = left$rhs[release[1L]], X2 = test$X2, df = test$df,
               p_value = test$p.value, stringsAsFactors = FALSE)
  })))
  list(
    score_calls = list(
      univariate = "lavTestScore(fit)$uni",
      total = "lavTestScore(fit)$test",
      by_parameter = paste("lavTestScore(fit, release = <indices of the",
                           "parameter's == rows>, univariate = FALSE)$test")
    ),
    score_univariate = univariate,
    score_total = all_tests$test[, c("X2", "df", "p.value")],
    score_by_parameter = by_parameter,
    score_warnings = I(warning_text),
    missing_rows_1based = hsm_rows
  )
}

fit_and_write(
  "hsm_mg_metric_fiml_mlr_score",
  paste("Holzinger-Swineford 3-factor CFA on HSm by school with equal loadings,",
        "MLR with missing = 'ml' (FIML), with score tests of the equality",
        "constraints"),
  'cfa(hs_model, data = hsm, group = "school", group.equal = "loadings", estimator = "MLR", missing = "ml")',
  env$hs_model, env,
  options = list(group = "school", group.equal = "loadings", estimator = "MLR",
                 missing = "ml"),
  data_file = hs_file, data_preparation = hsm_preparation, extra = score_tests
)

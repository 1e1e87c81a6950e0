# Reliability of the five bfi scales: psych::alpha, semTools::compRelSEM and
# semTools::AVE on one-factor CFAs, psych::omega, written to reliability_bfi.json.
#
# Run from the repository root:  Rscript tests/reference/reliability_references.R

local({
  file_arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  source(file.path(dirname(sub("^--file=", "", file_arg[1L])), "common.R"))
})
suppressPackageStartupMessages({
  library(semTools)
  library(psych)
})

bfi_recoded <- recode_bfi_reverse(read_project_csv("bfi.csv"))
scales <- c("A", "C", "E", "N", "O")

calls <- list(
  listwise = "items <- na.omit(bfi_recoded[, paste0(scale, 1:5)])",
  alpha = "psych::alpha(items, check.keys = FALSE)",
  duhachek = "raw_alpha -/+ 1.96 * ase, as print(psych::alpha(...)) shows it",
  cfa = "cfa(scale_model, data = items)",
  comp_rel_sem = "semTools::compRelSEM(fit)",
  comp_rel_sem_tau_eq = "semTools::compRelSEM(fit, tau.eq = TRUE)",
  comp_rel_sem_implied_var = "semTools::compRelSEM(fit, obs.var = FALSE)",
  ave = "semTools::AVE(fit)",
  ave_implied_var = "semTools::AVE(fit, obs.var = FALSE)",
  omega = "psych::omega(items, nfactors = 1, plot = FALSE)"
)

one_number <- function(x) as.numeric(unlist(x))[1L]

# A psych data frame as {column -> array} plus an "item" column of row names.
item_table <- function(frame) {
  c(list(item = I(rownames(frame))),
    lapply(as.list(frame), function(column) I(as.numeric(column))))
}

alpha_record <- function(items) {
  result <- psych::alpha(items, check.keys = FALSE)
  total <- result$total
  raw_alpha <- total$raw_alpha
  list(
    total = lapply(as.list(total), as.numeric),
    confidence_bounds = list(
      feldt = list(lower = one_number(result$feldt$lower.ci),
                   alpha = one_number(result$feldt$alpha),
                   upper = one_number(result$feldt$upper.ci)),
      duhachek = list(lower = raw_alpha - 1.96 * total$ase,
                      alpha = raw_alpha,
                      upper = raw_alpha + 1.96 * total$ase)
    ),
    alpha_drop = item_table(result$alpha.drop),
    item_stats = item_table(result$item.stats)
  )
}

cfa_record <- function(fit) {
  list(
    r_call = calls$cfa,
    estimates = estimates_table(fit),
    fit_measures = named_vector_record(fitMeasures(fit)),
    implied_cov = matrix_record(lavInspect(fit, "implied")$cov),
    sample_cov = matrix_record(lavInspect(fit, "sampstat")$cov)
  )
}

scale_record <- function(scale) {
  item_names <- paste0(scale, 1:5)
  items <- na.omit(bfi_recoded[, item_names])
  dropped <- as.integer(attr(items, "na.action"))
  if (is.null(attr(items, "na.action"))) dropped <- integer(0)

  scale_model <- paste(scale, "=~", paste(item_names, collapse = " + "))
  fit <- cfa(scale_model, data = items)
  if (!lavInspect(fit, "converged")) {
    stop("one-factor CFA of scale ", scale, " did not converge")
  }

  omega <- suppressWarnings(suppressMessages(
    psych::omega(items, nfactors = 1, plot = FALSE)
  ))

  list(
    items = I(item_names),
    model = scale_model,
    nobs = nrow(items),
    dropped_rows_1based = I(dropped),
    alpha = alpha_record(items),
    comp_rel_sem = one_number(compRelSEM(fit)),
    comp_rel_sem_tau_eq = one_number(compRelSEM(fit, tau.eq = TRUE)),
    comp_rel_sem_implied_var = one_number(compRelSEM(fit, obs.var = FALSE)),
    ave = one_number(AVE(fit)),
    ave_implied_var = one_number(AVE(fit, obs.var = FALSE)),
    omega_psych = list(omega_tot = omega$omega.tot, alpha = omega$alpha,
                       G6 = omega$G6),
    cfa = cfa_record(fit)
  )
}

# The recoded five-factor model (as in bfi_cfa5_ml_recoded.json), listwise over
# all 25 items, so the per-factor values can be compared with the one-factor ones.
five_factor_record <- function() {
  model <- paste(vapply(scales, function(s) {
    paste(s, "=~", paste(paste0(s, 1:5), collapse = " + "))
  }, ""), collapse = "\n")
  fit <- cfa(model, data = bfi_recoded)
  list(
    r_call = "cfa(model, data = bfi_recoded)",
    model = model,
    nobs = lavInspect(fit, "ntotal"),
    comp_rel_sem = named_vector_record(compRelSEM(fit)),
    comp_rel_sem_return_total =
      named_vector_record(compRelSEM(fit, return.total = TRUE)),
    ave = named_vector_record(AVE(fit))
  )
}

record <- list(
  name = "reliability_bfi",
  description = paste(
    "Reliability of the five bfi scales after recoding the reverse-keyed items:",
    "coefficient alpha with Feldt and Duhachek 95% bounds, item-rest correlations",
    "and alpha-if-deleted from psych::alpha, composite reliability and AVE from",
    "semTools on a one-factor ML CFA per scale, and psych::omega's omega_tot.",
    "Each scale uses its own listwise-complete rows."
  ),
  data_file = "bfi.csv",
  data_preparation = paste(
    "A1, C4, C5, E1, E2, O2 and O5 replaced by 7 - x (NA stays NA); per scale,",
    "rows with any of its five items missing are dropped"
  ),
  r_version = R.version.string,
  lavaan_version = as.character(packageVersion("lavaan")),
  semtools_version = as.character(packageVersion("semTools")),
  psych_version = as.character(packageVersion("psych")),
  r_calls = calls,
  notes = I(c(
    paste("compRelSEM defaults in semTools 0.5.6: obs.var = TRUE (denominator is",
          "the sum of the sample covariance matrix), tau.eq = FALSE,",
          "return.total = FALSE; return.total has no effect with one factor."),
    paste("comp_rel_sem_tau_eq equals raw alpha; comp_rel_sem_implied_var uses",
          "the model-implied covariance in the denominator."),
    "AVE default obs.var = TRUE: indicator variances from the sample covariance.",
    paste("alpha.total columns keep psych's names (raw_alpha, std.alpha, G6(smc),",
          "average_r, S/N, ase, mean, sd, median_r); ase is Duhachek's",
          "asymptotic SE."),
    paste("Feldt bounds come from psych::alpha.ci(raw_alpha, n, k) with F",
          "quantiles on (n - 1, (n - 1)(k - 1)) degrees of freedom."),
    paste("psych::omega with one factor fits minres to the correlation matrix;",
          "its alpha is the standardized alpha.")
  )),
  scales = setNames(lapply(scales, scale_record), scales),
  five_factor = five_factor_record()
)

write_json_file(record, "reliability_bfi.json")

# Discriminant validity references for tests/test_discriminant.py, written to
# discriminant_validity.json beside this script: semTools::htmt (HTMT and the
# geometric-mean HTMT2) on several data sets and options, and the pieces of
# the Fornell-Larcker criterion of lavaan fits (semTools::AVE, the latent
# correlations of lavInspect(fit, "cor.lv") and their delta-method SEs).
#
# Run from the repository root:  Rscript tests/reference/discriminant_references.R
#
# Made with R 4.2, lavaan 0.6-14, semTools 0.5-6 and jsonlite; about 15 s.
#
# Facts about semTools 0.5-6 that the cases below show:
# - htmt() defaults to htmt2 = TRUE, the geometric-mean variant of Roemer,
#   Schuberth and Henseler (2021), and to absolute = TRUE. htmt2 always takes
#   absolute correlations; absolute = FALSE matters only with htmt2 = FALSE.
# - htmt(model, data) passes the indicators of the "=~" rows to lavCor(),
#   which deletes listwise over those columns by default. lavCor(missing =
#   "pairwise") is cov2cor(cov(x, use = "pairwise")), and missing = "ml" gives
#   the EM estimate of the saturated correlation matrix.
# - With an item in two factors, htmt(model, data) stops because the item's
#   column is passed to lavCor() twice ("sample covariance matrix is not
#   positive-definite"). With sample.cov it runs, and the correlation of the
#   shared item with itself is left out of the heterotrait mean (it sits on
#   the diagonal, which htmt() sets to NA).
# - lavCor() on a data frame has no sampling weights, so the weighted cases
#   pass the weighted correlations of a fitted model (lavInspect(fit,
#   "sampstat")) to htmt() as sample.cov.
# - AVE() uses cov.lv (the total variance of an endogenous factor, not its
#   residual variance), the observed item variances, and, for ordinal items,
#   the latent-response variances 1 / delta^2. It returns NA for a factor with
#   an item that loads on another factor too.

local({
  file_arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  source(file.path(dirname(sub("^--file=", "", file_arg[1L])), "common.R"))
})
suppressPackageStartupMessages(library(semTools))

env <- new.env()
env$hs <- read_project_csv("holzinger_swineford_1939.csv")
env$bfi <- read_project_csv("bfi.csv")
env$bfi_recoded <- recode_bfi_reverse(env$bfi)
env$sim <- read_project_csv("sim_weights_clusters.csv")
env$bfi_w <- read.csv(file.path(reference_dir, "wlsmv_weights_data.csv"),
                      stringsAsFactors = FALSE, na.strings = "")

env$hs_model <- "visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9"
env$hs_cross_model <- "visual =~ x1 + x2 + x3 + x9
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9"
env$hs_sem_model <- "visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9
speed ~ visual"
# The same SEM with labels, so that the implied correlations of speed with the
# two exogenous factors become defined parameters with delta-method SEs.
env$hs_sem_labelled <- "visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9
speed ~ b * visual
visual ~~ vv * visual
textual ~~ tt * textual
speed ~~ ss * speed
visual ~~ vt * textual
r_visual_speed := b * vv / sqrt(vv * (b^2 * vv + ss))
r_textual_speed := b * vt / sqrt(tt * (b^2 * vv + ss))"
env$bfi_model <- "A =~ A1 + A2 + A3 + A4 + A5
C =~ C1 + C2 + C3 + C4 + C5
E =~ E1 + E2 + E3 + E4 + E5
N =~ N1 + N2 + N3 + N4 + N5
O =~ O1 + O2 + O3 + O4 + O5"
env$ac_model <- "A =~ A1 + A2 + A3 + A4 + A5
C =~ C1 + C2 + C3 + C4 + C5"
env$sim_model <- "ext =~ ext1 + ext2 + ext3
tra =~ tra1 + tra2 + tra3
par =~ par1 + par2 + par3
aut =~ aut1 + aut2 + aut3
aut ~ par + tra"
env$hs_items <- paste0("x", 1:9)

# HS with missing values at fixed rows, so that Python can make the same data.
missing_rows <- list(x1 = seq(3L, 301L, by = 7L), x5 = seq(5L, 301L, by = 11L),
                     x9 = seq(2L, 301L, by = 13L))
env$hs_missing <- env$hs
for (item in names(missing_rows)) {
  env$hs_missing[[item]][missing_rows[[item]]] <- NA
}

run <- function(call) eval(parse(text = call), envir = env)

model_factors <- function(model) {
  pt <- lavaanify(model)
  unique(pt$lhs[pt$op == "=~"])
}


# HTMT ------------------------------------------------------------------------

htmt_case <- function(description, r_call, model_name, data_file,
                      data_preparation = "", complete_rows_call = NULL) {
  result <- run(r_call)
  record <- list(
    description = description,
    r_call = r_call,
    model = env[[model_name]],
    data_file = data_file,
    data_preparation = data_preparation,
    factors = I(model_factors(env[[model_name]])),
    htmt = matrix_record(unclass(result))
  )
  if (!is.null(complete_rows_call)) {
    record$complete_rows <- run(complete_rows_call)
  }
  record
}

hs_rows <- "nrow(na.omit(hs[, hs_items]))"
bfi_rows <- "nrow(na.omit(bfi[, unlist(lapply(c('A','C','E','N','O'), paste0, 1:5))]))"
recode_note <- "A1, C4, C5, E1, E2, O2, O5 recoded as 7 - x"
missing_note <- paste(
  "hs with NA in x1 at rows seq(3, 301, by = 7), x5 at seq(5, 301, by = 11)",
  "and x9 at seq(2, 301, by = 13) (1-based row numbers, see missing_rows)"
)

htmt_cases <- list(
  hs_htmt2 = htmt_case("HS 3 factors, semTools defaults (htmt2 = TRUE)",
                       "htmt(hs_model, data = hs)", "hs_model",
                       "holzinger_swineford_1939.csv",
                       complete_rows_call = hs_rows),
  hs_htmt = htmt_case("HS 3 factors, arithmetic means (htmt2 = FALSE)",
                      "htmt(hs_model, data = hs, htmt2 = FALSE)", "hs_model",
                      "holzinger_swineford_1939.csv"),
  hs_htmt_signed = htmt_case(
    "HS 3 factors, arithmetic means of the signed correlations",
    "htmt(hs_model, data = hs, htmt2 = FALSE, absolute = FALSE)", "hs_model",
    "holzinger_swineford_1939.csv"),
  bfi_recoded_htmt2 = htmt_case(
    "bfi 5 factors, reverse-keyed items recoded, semTools defaults",
    "htmt(bfi_model, data = bfi_recoded)", "bfi_model", "bfi.csv",
    recode_note, complete_rows_call = bfi_rows),
  bfi_recoded_htmt = htmt_case(
    "bfi 5 factors, reverse-keyed items recoded, htmt2 = FALSE",
    "htmt(bfi_model, data = bfi_recoded, htmt2 = FALSE)", "bfi_model", "bfi.csv",
    recode_note),
  # Unrecoded reverse-keyed items make some signed monotrait means negative,
  # so sqrt() of a negative product gives NaN (R warns 12 times) and the
  # diagonal of those factors is -1.
  bfi_raw_htmt_signed = htmt_case(
    "bfi 5 factors, raw items, signed correlations (htmt2 = FALSE, absolute = FALSE)",
    "htmt(bfi_model, data = bfi, htmt2 = FALSE, absolute = FALSE)", "bfi_model",
    "bfi.csv"),
  bfi_raw_htmt = htmt_case(
    "bfi 5 factors, raw items, absolute correlations (htmt2 = FALSE)",
    "htmt(bfi_model, data = bfi, htmt2 = FALSE)", "bfi_model", "bfi.csv"),
  bfi_recoded_ordered_htmt2 = htmt_case(
    "bfi 5 factors, recoded, polychoric correlations, semTools defaults",
    "htmt(bfi_model, data = bfi_recoded, ordered = TRUE)", "bfi_model", "bfi.csv",
    recode_note),
  bfi_recoded_ordered_htmt = htmt_case(
    "bfi 5 factors, recoded, polychoric correlations, htmt2 = FALSE",
    "htmt(bfi_model, data = bfi_recoded, ordered = TRUE, htmt2 = FALSE)",
    "bfi_model", "bfi.csv", recode_note),
  hs_missing_listwise = htmt_case(
    "HS with missing values, listwise deletion (the default)",
    "htmt(hs_model, data = hs_missing)", "hs_model",
    "holzinger_swineford_1939.csv", missing_note,
    complete_rows_call = "nrow(na.omit(hs_missing[, hs_items]))"),
  hs_missing_pairwise = htmt_case(
    "HS with missing values, pairwise deletion",
    "htmt(hs_model, data = hs_missing, missing = 'pairwise')", "hs_model",
    "holzinger_swineford_1939.csv", missing_note),
  hs_missing_ml = htmt_case(
    "HS with missing values, EM (saturated ML) correlations, htmt2 = FALSE",
    "htmt(hs_model, data = hs_missing, missing = 'ml', htmt2 = FALSE)", "hs_model",
    "holzinger_swineford_1939.csv", missing_note),
  hs_cross_htmt2 = htmt_case(
    "HS with x9 in visual and speed, from the correlation matrix",
    "htmt(hs_cross_model, sample.cov = lavCor(hs[, hs_items]))", "hs_cross_model",
    "holzinger_swineford_1939.csv"),
  hs_cross_htmt = htmt_case(
    "HS with x9 in visual and speed, from the correlation matrix, htmt2 = FALSE",
    "htmt(hs_cross_model, sample.cov = lavCor(hs[, hs_items]), htmt2 = FALSE)",
    "hs_cross_model", "holzinger_swineford_1939.csv"),
  hs_covariance_htmt = htmt_case(
    "HS 3 factors from the covariance matrix (cov2cor inside htmt)",
    "htmt(hs_model, sample.cov = cov(hs[, hs_items]), htmt2 = FALSE)", "hs_model",
    "holzinger_swineford_1939.csv"),
  sim_weighted_htmt2 = htmt_case(
    "simulated 4 factors, weighted correlations (sampling weights w)",
    paste("htmt(sim_model, sample.cov = lavInspect(sem(sim_model, data = sim,",
          "sampling.weights = 'w'), 'sampstat')$cov)"),
    "sim_model", "sim_weights_clusters.csv"),
  sim_weighted_htmt = htmt_case(
    "simulated 4 factors, weighted correlations, htmt2 = FALSE",
    paste("htmt(sim_model, sample.cov = lavInspect(sem(sim_model, data = sim,",
          "sampling.weights = 'w'), 'sampstat')$cov, htmt2 = FALSE)"),
    "sim_model", "sim_weights_clusters.csv"),
  ac_weighted_ordered_htmt2 = htmt_case(
    "bfi A and C, raw items ordered, weighted polychoric correlations (weights w)",
    paste("htmt(ac_model, sample.cov = lavInspect(cfa(ac_model, data = bfi_w,",
          "ordered = TRUE, sampling.weights = 'w'), 'sampstat')$cov)"),
    "ac_model", "tests/reference/wlsmv_weights_data.csv"),
  hs_pasteur_htmt2 = htmt_case(
    "HS 3 factors, rows of school Pasteur",
    "htmt(hs_model, data = hs[hs$school == 'Pasteur', ])", "hs_model",
    "holzinger_swineford_1939.csv"),
  hs_grant_white_htmt2 = htmt_case(
    "HS 3 factors, rows of school Grant-White",
    "htmt(hs_model, data = hs[hs$school == 'Grant-White', ])", "hs_model",
    "holzinger_swineford_1939.csv")
)


# Fornell-Larcker --------------------------------------------------------------

# Off-diagonal latent covariance rows of standardizedSolution(): the latent
# correlations that are model parameters, with delta-method SEs.
latent_correlation_rows <- function(fit) {
  ss <- standardizedSolution(fit)
  lv <- lavNames(fit, "lv")
  keep <- ss$op == "~~" & ss$lhs != ss$rhs & ss$lhs %in% lv & ss$rhs %in% lv
  group <- if (is.null(ss$group)) rep(1L, nrow(ss)) else ss$group
  data.frame(group = group_text(fit, group[keep]), lhs = ss$lhs[keep],
             rhs = ss$rhs[keep], est_std = ss$est.std[keep], se = ss$se[keep],
             stringsAsFactors = FALSE)
}

ave_record <- function(fit) {
  ave <- AVE(fit)
  if (lavInspect(fit, "ngroups") == 1L) {
    return(setNames(list(named_vector_record(ave)), ""))
  }
  labels <- as.character(ave$group)
  values <- as.data.frame(ave)[, setdiff(names(ave), "group"), drop = FALSE]
  setNames(lapply(seq_along(labels), function(i) {
    named_vector_record(unlist(values[i, , drop = TRUE]))
  }), labels)
}

fl_case <- function(description, r_call, model_name, data_file,
                    data_preparation = "") {
  fit <- run(r_call)
  if (!lavInspect(fit, "converged")) stop(description, ": lavaan did not converge")
  cor_lv <- lavInspect(fit, "cor.lv")
  if (lavInspect(fit, "ngroups") == 1L) {
    cor_lv <- setNames(list(matrix_record(cor_lv)), "")
  } else {
    cor_lv <- lapply(cor_lv, matrix_record)
  }
  list(
    description = description,
    r_call = r_call,
    model = env[[model_name]],
    data_file = data_file,
    data_preparation = data_preparation,
    nobs = I(lavInspect(fit, "nobs")),
    ave = ave_record(fit),
    cor_lv = cor_lv,
    latent_correlations = latent_correlation_rows(fit)
  )
}

fl_cases <- list(
  hs_cfa = fl_case("HS 3-factor CFA, ML", "cfa(hs_model, data = hs)", "hs_model",
                   "holzinger_swineford_1939.csv"),
  bfi_recoded_cfa = fl_case(
    "bfi 5-factor CFA, ML, reverse-keyed items recoded, listwise",
    "cfa(bfi_model, data = bfi_recoded)", "bfi_model", "bfi.csv", recode_note),
  hs_sem = fl_case("HS SEM with speed ~ visual, ML", "sem(hs_sem_model, data = hs)",
                   "hs_sem_model", "holzinger_swineford_1939.csv"),
  hs_cross_cfa = fl_case(
    "HS CFA with x9 in visual and speed, ML (AVE is NA for both)",
    "cfa(hs_cross_model, data = hs)", "hs_cross_model",
    "holzinger_swineford_1939.csv"),
  hs_cfa_school = fl_case(
    "HS 3-factor CFA in the two schools (configural), ML",
    "cfa(hs_model, data = hs, group = 'school')", "hs_model",
    "holzinger_swineford_1939.csv"),
  sim_weighted_sem = fl_case(
    "simulated 4-factor SEM with sampling weights w (aut ~ par + tra)",
    "sem(sim_model, data = sim, sampling.weights = 'w')", "sim_model",
    "sim_weights_clusters.csv"),
  # Scale factors delta are free in group 2, so AVE uses 1 / delta^2 there.
  ac_ordered_gender = fl_case(
    "bfi A and C, raw items ordered, WLSMV by gender, equal thresholds and loadings",
    paste("cfa(ac_model, data = bfi, ordered = TRUE, group = 'gender',",
          "group.equal = c('thresholds', 'loadings'))"),
    "ac_model", "bfi.csv"),
  ac_weighted_ordered = fl_case(
    "bfi A and C, raw items ordered, WLSMV with sampling weights w",
    "cfa(ac_model, data = bfi_w, ordered = TRUE, sampling.weights = 'w')",
    "ac_model", "tests/reference/wlsmv_weights_data.csv")
)

# The implied correlations of the SEM as defined parameters: lavaan's
# delta-method SEs of cor.lv entries that are not model parameters.
sem_defined_call <- "sem(hs_sem_labelled, data = hs)"
sem_defined <- parameterEstimates(run(sem_defined_call))
sem_defined <- sem_defined[sem_defined$op == ":=", c("lhs", "est", "se")]
fl_cases$hs_sem$defined_call <- sem_defined_call
fl_cases$hs_sem$defined_model <- env$hs_sem_labelled
fl_cases$hs_sem$defined <- sem_defined

record <- list(
  name = "discriminant_validity",
  description = paste(
    "semTools::htmt on HS, bfi (raw, recoded, ordinal), data with missing values,",
    "a cross-loading item and weighted correlations; semTools::AVE, cor.lv and",
    "standardized latent covariances of lavaan fits"
  ),
  notes = I(c(
    "htmt: a factors x factors matrix record; factors in model order",
    "complete_rows: rows without a missing value on the model's indicators",
    "ave, cor_lv: keyed by group label, \"\" for a single group",
    "latent_correlations: standardizedSolution() rows lv ~~ lv (lhs != rhs)",
    "hs_sem.defined: the implied correlations of speed as := parameters",
    "data_file: a file in data/, or a path from the repository root if it has a slash"
  )),
  missing_rows_1based = lapply(missing_rows, I),
  lavaan_version = as.character(packageVersion("lavaan")),
  semtools_version = as.character(packageVersion("semTools")),
  r_version = R.version.string,
  htmt = htmt_cases,
  fornell_larcker = fl_cases
)
write_json_file(record, "discriminant_validity.json")

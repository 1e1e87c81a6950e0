# Reference values for measurement invariance beyond the ML ladders of
# multigroup_references.R: lavaan's score tests for releasing equality
# constraints (lavTestScore), a sequential partial-invariance search driven by
# those tests, robust (MLR, MLM) invariance ladders with lavTestLRT's scaled
# difference tests, and Wald tests of paths and latent means across groups
# (lavTestWald).
#
# Run from the repository root:  Rscript tests/reference/invariance_references.R

local({
  file_arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  source(file.path(dirname(sub("^--file=", "", file_arg[1L])), "common.R"))
})
suppressPackageStartupMessages(library(semTools))

env <- new.env()
env$hs <- read_project_csv("holzinger_swineford_1939.csv")
hs_file <- "holzinger_swineford_1939.csv"

env$hs_model <- "visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9"

env$bfi_model <- "A =~ A1 + A2 + A3 + A4 + A5
C =~ C1 + C2 + C3 + C4 + C5
E =~ E1 + E2 + E3 + E4 + E5
N =~ N1 + N2 + N3 + N4 + N5
O =~ O1 + O2 + O3 + O4 + O5"

# The same education bands as in multigroup_references.R.
bfi <- recode_bfi_reverse(read_project_csv("bfi.csv"))
bfi <- bfi[!is.na(bfi$education), ]
bfi$education_band <- c("low", "low", "middle", "high", "high")[bfi$education]
env$bfi_edu <- bfi
bfi_file <- "bfi.csv"
bfi_preparation <- paste(
  "A1, C4, C5, E1, E2, O2 and O5 replaced by 7 - x (NA stays NA); rows with",
  "missing education dropped; education_band = 'low' for education 1-2,",
  "'middle' for 3, 'high' for 4-5 (a character column, so lavaan orders the",
  "groups by first appearance in the data)"
)


# Naming the constraints ---------------------------------------------------------
#
# lavaan names constrained parameters by their plabel (".p2."), which depends on
# lavaan's own row order. Each constraint is stored with the parameter it
# constrains (lhs, op, rhs) and the group labels of its two sides, so the
# Python tests match rows without knowing lavaan's numbering.

plabel_rows <- function(fit) {
  pt <- parTable(fit)
  labels <- lavInspect(fit, "group.label")
  data.frame(plabel = pt$plabel, lhs = pt$lhs, op = pt$op, rhs = pt$rhs,
             group = ifelse(pt$group >= 1L, labels[pmax(pt$group, 1L)], ""),
             stringsAsFactors = FALSE)
}

describe_constraints <- function(fit, lhs_labels, rhs_labels) {
  rows <- plabel_rows(fit)
  left <- rows[match(lhs_labels, rows$plabel), ]
  right <- rows[match(rhs_labels, rows$plabel), ]
  if (anyNA(left$lhs) || anyNA(right$lhs)) stop("a plabel has no partable row")
  if (any(left$lhs != right$lhs | left$op != right$op | left$rhs != right$rhs)) {
    stop("a constraint links two different parameters")
  }
  data.frame(lhs = left$lhs, op = left$op, rhs = left$rhs,
             group_lhs = left$group, group_rhs = right$group,
             plabel_lhs = lhs_labels, plabel_rhs = rhs_labels,
             stringsAsFactors = FALSE)
}

# The == rows of a fit, each described by describe_constraints().
equality_constraints <- function(fit) {
  pt <- parTable(fit)
  eq <- pt[pt$op == "==", ]
  describe_constraints(fit, eq$lhs, eq$rhs)
}


# Score tests --------------------------------------------------------------------

# lavTestScore's univariate table (one constraint released at a time) and, per
# parameter, the test that releases all of its constraints together
# (df = number of groups - 1), from lavTestScore(fit, release = ...).
score_tests <- function(fit) {
  uni <- lavTestScore(fit)$uni
  univariate <- cbind(
    describe_constraints(fit, uni$lhs, uni$rhs),
    data.frame(X2 = uni$X2, df = uni$df, p_value = uni$p.value)
  )
  constraints <- equality_constraints(fit)
  key <- paste(constraints$lhs, constraints$op, constraints$rhs)
  groups <- split(seq_along(key), factor(key, levels = unique(key)))
  by_parameter <- lapply(groups, function(release) {
    test <- lavTestScore(fit, release = release, univariate = FALSE)$test
    first <- constraints[release[1L], ]
    data.frame(lhs = first$lhs, op = first$op, rhs = first$rhs,
               release = paste(release, collapse = " "),
               X2 = test$X2, df = test$df, p_value = test$p.value,
               stringsAsFactors = FALSE)
  })
  list(
    score_calls = list(
      univariate = "lavTestScore(fit)$uni",
      by_parameter = paste("lavTestScore(fit, release = <indices of the",
                           "parameter's == rows>, univariate = FALSE)$test")
    ),
    score_univariate = univariate,
    score_by_parameter = do.call(rbind, unname(by_parameter))
  )
}

fit_and_write(
  "hs_mg_metric_score",
  "Holzinger-Swineford 3-factor CFA by school, equal loadings, with score tests",
  'cfa(hs_model, data = hs, group = "school", group.equal = "loadings")',
  env$hs_model, env, options = list(group = "school", group.equal = I("loadings")),
  data_file = hs_file, extra = score_tests
)

fit_and_write(
  "hs_mg_scalar_score",
  paste("Holzinger-Swineford 3-factor CFA by school, equal loadings and",
        "intercepts, with score tests"),
  paste('cfa(hs_model, data = hs, group = "school",',
        'group.equal = c("loadings", "intercepts"))'),
  env$hs_model, env,
  options = list(group = "school", group.equal = I(c("loadings", "intercepts"))),
  data_file = hs_file, extra = score_tests
)

fit_and_write(
  "bfi_inv_edu_scalar_score",
  paste("bfi 5-factor CFA (reverse-keyed items recoded) by education band, equal",
        "loadings and intercepts, ML, listwise, with score tests"),
  paste('cfa(bfi_model, data = bfi_edu, group = "education_band",',
        'group.equal = c("loadings", "intercepts"))'),
  env$bfi_model, env,
  options = list(group = "education_band",
                 group.equal = I(c("loadings", "intercepts"))),
  data_file = bfi_file, data_preparation = bfi_preparation,
  extra = score_tests, with_vcov = FALSE
)


# Sequential partial invariance ------------------------------------------------------
#
# Starting from the scalar bfi model, release the intercept with the largest
# score statistic (all groups together, df = 2), refit with that intercept in
# group.partial, and repeat three times. Each step stores the released
# parameter, its score test and the fit of the refitted model.

partial_steps <- function(steps) {
  partial <- character(0)
  rows <- list()
  for (step in seq_len(steps)) {
    fit <- cfa(env$bfi_model, data = env$bfi_edu, group = "education_band",
               group.equal = c("loadings", "intercepts"), group.partial = partial)
    tests <- score_tests(fit)$score_by_parameter
    tests <- tests[tests$op == "~1" & !(paste(tests$lhs, "~1") %in% partial), ]
    best <- tests[which.max(tests$X2), ]
    partial <- c(partial, paste(best$lhs, "~1"))
    refit <- cfa(env$bfi_model, data = env$bfi_edu, group = "education_band",
                 group.equal = c("loadings", "intercepts"), group.partial = partial)
    measures <- fitMeasures(refit, c("chisq", "df", "cfi", "tli", "rmsea", "srmr"))
    rows[[step]] <- data.frame(
      step = step, released = paste(best$lhs, "~1"), X2 = best$X2, df = best$df,
      p_value = best$p_value, chisq = measures[["chisq"]], model_df = measures[["df"]],
      cfi = measures[["cfi"]], tli = measures[["tli"]], rmsea = measures[["rmsea"]],
      srmr = measures[["srmr"]], stringsAsFactors = FALSE
    )
  }
  list(
    partial_call = paste(
      "repeat: cfa(bfi_model, data = bfi_edu, group = 'education_band',",
      "group.equal = c('loadings', 'intercepts'), group.partial = partial);",
      "release the intercept with the largest lavTestScore X2 (df 2)"
    ),
    partial_steps = do.call(rbind, rows),
    group_partial = I(partial)
  )
}

write_json_file(
  c(list(
    name = "bfi_inv_edu_partial",
    description = paste("Sequential release of intercepts in the scalar bfi model by",
                        "education band, largest score test first"),
    data_file = bfi_file, data_preparation = bfi_preparation,
    lavaan_version = as.character(packageVersion("lavaan")),
    r_version = R.version.string
  ), partial_steps(3L)),
  "bfi_inv_edu_partial.json"
)


# Robust invariance ladders ----------------------------------------------------------

steps <- list(
  configural = NULL,
  metric = c("loadings"),
  scalar = c("loadings", "intercepts"),
  strict = c("loadings", "intercepts", "residuals")
)

robust_ladder <- function(name, description, model_name, data_name, group,
                          estimator, data_file, data_preparation = "") {
  fits <- lapply(steps, function(constraints) {
    cfa(env[[model_name]], data = env[[data_name]], group = group,
        estimator = estimator,
        group.equal = if (is.null(constraints)) "" else constraints)
  })
  lrt <- as.data.frame(do.call(lavTestLRT, unname(fits)))
  column_record <- function(frame, model_names) {
    c(list(model = I(model_names)),
      lapply(as.list(frame), function(column) I(as.numeric(column))))
  }
  list(
    name = name,
    description = description,
    data_file = data_file,
    data_preparation = data_preparation,
    lavaan_version = as.character(packageVersion("lavaan")),
    r_version = R.version.string,
    estimator = estimator,
    steps = I(names(steps)),
    group_equal = lapply(steps, function(s) if (is.null(s)) I(character(0)) else I(s)),
    r_calls = list(
      fit = sprintf('cfa(%s, data = %s, group = "%s", estimator = "%s", group.equal = ...)',
                    model_name, data_name, group, estimator),
      lrt = "lavTestLRT(configural, metric, scalar, strict)",
      lrt_method = "default, which is satorra.bentler.2001 for MLR and MLM"
    ),
    fit_measures = lapply(fits, function(fit) named_vector_record(fitMeasures(fit))),
    scaling_factors = lapply(fits, function(fit) lavInspect(fit, "test")[[2]]$scaling.factor),
    lrt = column_record(lrt, names(steps))
  )
}

for (estimator in c("MLR", "MLM")) {
  suffix <- tolower(estimator)
  write_json_file(
    robust_ladder(paste0("hs_invariance_school_", suffix),
                  paste("Invariance ladder of the Holzinger-Swineford 3-factor CFA by",
                        "school,", estimator),
                  "hs_model", "hs", "school", estimator, hs_file),
    paste0("hs_invariance_school_", suffix, ".json")
  )
}

write_json_file(
  robust_ladder("bfi_invariance_education_mlr",
                paste("Invariance ladder of the bfi 5-factor CFA (reverse-keyed items",
                      "recoded) by education band, MLR, listwise"),
                "bfi_model", "bfi_edu", "education_band", "MLR", bfi_file,
                bfi_preparation),
  "bfi_invariance_education_mlr.json"
)


# Wald tests of paths and latent means -------------------------------------------------

# lavTestWald for each named set of constraints, with the constraint text.
wald_tests <- function(constraints) {
  function(fit) {
    tests <- lapply(names(constraints), function(name) {
      test <- lavTestWald(fit, constraints = constraints[[name]])
      list(constraints = constraints[[name]], stat = test$stat, df = test$df,
           p_value = test$p.value)
    })
    list(wald = setNames(tests, names(constraints)),
         plabels = plabel_rows(fit))
  }
}

env$hs_sem_model <- "visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9
textual ~ c(b1, b2)*visual
speed ~ c(c1, c2)*visual + c(d1, d2)*textual"

# In the scalar model the latent means of group 2 (Grant-White) are free.
# Their plabels are looked up in the partable before the tests are run.
hs_wald <- function(fit) {
  rows <- plabel_rows(fit)
  mean_label <- function(factor) {
    rows$plabel[rows$lhs == factor & rows$op == "~1" & rows$group == "Grant-White"]
  }
  wald_tests(list(
    textual_on_visual = "b1 == b2",
    speed_on_visual = "c1 == c2",
    speed_on_textual = "d1 == d2",
    all_paths = "b1 == b2; c1 == c2; d1 == d2",
    visual_mean = paste(mean_label("visual"), "== 0"),
    textual_mean = paste(mean_label("textual"), "== 0"),
    speed_mean = paste(mean_label("speed"), "== 0")
  ))(fit)
}

fit_and_write(
  "hs_sem_school_wald",
  paste("Holzinger-Swineford SEM by school with equal loadings and intercepts,",
        "labelled paths, and Wald tests of paths and latent means"),
  paste('sem(hs_sem_model, data = hs, group = "school",',
        'group.equal = c("loadings", "intercepts"))'),
  env$hs_sem_model, env,
  options = list(group = "school", group.equal = I(c("loadings", "intercepts"))),
  data_file = hs_file, extra = hs_wald
)

env$bfi_sem_model <- "A =~ A1 + A2 + A3 + A4 + A5
C =~ C1 + C2 + C3 + C4 + C5
E =~ E1 + E2 + E3 + E4 + E5
A ~ c(a1, a2, a3)*E
C ~ c(c1, c2, c3)*E"

# Latent means of groups 2 and 3 (low, high; middle is group 1): the plabels
# are looked up in the partable before the tests are run.
bfi_wald <- function(fit) {
  rows <- plabel_rows(fit)
  mean_label <- function(factor, group) {
    rows$plabel[rows$lhs == factor & rows$op == "~1" & rows$group == group]
  }
  constraints <- list(
    a_low_middle = "a2 == a1", a_high_middle = "a3 == a1", a_high_low = "a3 == a2",
    a_all = "a2 == a1; a3 == a1",
    c_all = "c2 == c1; c3 == c1"
  )
  for (factor in c("A", "C", "E")) {
    low <- mean_label(factor, "low")
    high <- mean_label(factor, "high")
    constraints[[paste0(factor, "_mean_low")]] <- paste(low, "== 0")
    constraints[[paste0(factor, "_mean_high")]] <- paste(high, "== 0")
    constraints[[paste0(factor, "_mean_high_low")]] <- paste(high, "==", low)
    constraints[[paste0(factor, "_mean_all")]] <- paste0(low, " == 0; ", high, " == 0")
  }
  wald_tests(constraints)(fit)
}

fit_and_write(
  "bfi_sem_edu_wald",
  paste("bfi SEM (A and C regressed on E, reverse-keyed items recoded) by",
        "education band with equal loadings and intercepts, ML, listwise, with",
        "Wald tests of paths and latent means"),
  paste('sem(bfi_sem_model, data = bfi_edu, group = "education_band",',
        'group.equal = c("loadings", "intercepts"))'),
  env$bfi_sem_model, env,
  options = list(group = "education_band",
                 group.equal = I(c("loadings", "intercepts"))),
  data_file = bfi_file, data_preparation = bfi_preparation, extra = bfi_wald
)

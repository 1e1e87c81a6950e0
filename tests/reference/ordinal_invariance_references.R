# Reference values for multi-group fits of ordinal items with equality
# constraints across groups (estimator WLSMV, delta parameterization):
#
# - lavaan's own identification for group.equal (with equal thresholds it
#   frees the scale factors and latent means of groups 2..G);
# - the threshold-first invariance ladder with the identification of Wu and
#   Estabrook (2016), written by semTools::measEq.syntax(ID.cat =
#   "Wu.Estabrook.2016", ID.fac = "std.lv"), with lavTestLRT's difference
#   tests (method "satorra.2000" with the scaled-and-shifted statistic).
#
# Run from the repository root:  Rscript tests/reference/ordinal_invariance_references.R

local({
  file_arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  source(file.path(dirname(sub("^--file=", "", file_arg[1L])), "common.R"))
})
suppressPackageStartupMessages(library(semTools))

env <- new.env()
env$ac_items <- c(paste0("A", 1:5), paste0("C", 1:5))
env$ac_model <- "A =~ A1 + A2 + A3 + A4 + A5
C =~ C1 + C2 + C3 + C4 + C5"

# Raw items (no reverse keying), rows with missing education dropped, and the
# education bands of invariance_references.R.
bfi <- read_project_csv("bfi.csv")
bfi <- bfi[!is.na(bfi$education), ]
bfi$education_band <- c("low", "low", "middle", "high", "high")[bfi$education]
env$bfi_edu <- bfi
bfi_file <- "bfi.csv"
bfi_preparation <- paste(
  "rows with missing education dropped; education_band = 'low' for education",
  "1-2, 'middle' for 3, 'high' for 4-5 (a character column, so lavaan orders",
  "the groups by first appearance in the data); items raw, listwise deletion"
)

weights_extra <- function(fit) {
  wls_v <- lavInspect(fit, "wls.v")
  list(wls_v_diagonal = lapply(wls_v, function(w) I(as.numeric(diag(w)))))
}


# lavaan's identification ---------------------------------------------------------

lavaan_steps <- list(
  thresholds = "thresholds",
  scalar = c("thresholds", "loadings", "intercepts")
)
for (step in names(lavaan_steps)) {
  constraints <- lavaan_steps[[step]]
  fit_and_write(
    paste0("bfi_ord_edu_lavaan_", step),
    paste("bfi 2-factor CFA on A1-A5 and C1-C5 declared ordered, three groups by",
          "education band, group.equal =", paste(constraints, collapse = ", "),
          "with lavaan's own identification, estimator WLSMV"),
    sprintf(paste('cfa(ac_model, data = bfi_edu, ordered = ac_items,',
                  'group = "education_band", estimator = "WLSMV",',
                  'group.equal = c(%s))'),
            paste0('"', constraints, '"', collapse = ", ")),
    env$ac_model, env,
    options = list(ordered = I(env$ac_items), estimator = "WLSMV",
                   group = "education_band", group.equal = I(constraints)),
    data_file = bfi_file, data_preparation = bfi_preparation,
    extra = weights_extra, with_vcov = FALSE
  )
}


# Threshold-first ladder (Wu & Estabrook, 2016) ------------------------------------

ladder <- list(
  configural = "",
  thresholds = "thresholds",
  metric = c("thresholds", "loadings"),
  scalar = c("thresholds", "loadings", "intercepts")
)
fits <- list()
for (step in names(ladder)) {
  constraints <- ladder[[step]]
  syntax <- as.character(measEq.syntax(
    env$ac_model, data = env$bfi_edu, ordered = env$ac_items,
    parameterization = "delta", ID.fac = "std.lv",
    ID.cat = "Wu.Estabrook.2016", group = "education_band",
    group.equal = constraints
  ))
  env[[paste0("syntax_", step)]] <- syntax
  fits[[step]] <- fit_and_write(
    paste0("bfi_ord_edu_we_", step),
    paste("bfi 2-factor CFA on A1-A5 and C1-C5 declared ordered, three groups by",
          "education band, level", step, "of the threshold-first ladder with",
          "the identification of Wu and Estabrook (2016), estimator WLSMV"),
    sprintf(paste('cfa(syntax_%s, data = bfi_edu, ordered = ac_items,',
                  'group = "education_band", estimator = "WLSMV",',
                  'parameterization = "delta")'), step),
    syntax, env,
    options = list(ordered = I(env$ac_items), estimator = "WLSMV",
                   group = "education_band", std.lv = TRUE,
                   group.equal = I(constraints)),
    data_file = bfi_file, data_preparation = bfi_preparation,
    with_vcov = FALSE
  )
}

lrt <- do.call(lavTestLRT, unname(fits))
frame <- as.data.frame(lrt)
write_json_file(
  list(
    name = "bfi_ord_edu_ladder",
    description = paste("lavTestLRT of the threshold-first ladder",
                        "(configural, thresholds, metric, scalar) of the bfi A/C",
                        "model by education band, WLSMV"),
    data_file = bfi_file,
    data_preparation = bfi_preparation,
    lavaan_version = as.character(packageVersion("lavaan")),
    semtools_version = as.character(packageVersion("semTools")),
    r_version = R.version.string,
    steps = I(names(ladder)),
    r_calls = list(
      syntax = paste('measEq.syntax(ac_model, data = bfi_edu, ordered = ac_items,',
                     'parameterization = "delta", ID.fac = "std.lv",',
                     'ID.cat = "Wu.Estabrook.2016", group = "education_band",',
                     'group.equal = ...)'),
      lrt = "lavTestLRT(configural, thresholds, metric, scalar)",
      lrt_method = "default, which is satorra.2000 (scaled and shifted) for WLSMV"
    ),
    lrt = c(list(model = I(names(ladder))),
            lapply(as.list(frame), function(column) I(as.numeric(column)))),
    scale = I(as.numeric(attr(lrt, "scale"))),
    shift = I(as.numeric(attr(lrt, "shift")))
  ),
  "bfi_ord_edu_ladder.json"
)


# Partial invariance with the same identification ---------------------------------
#
# measEq.syntax frees an item's intercept and scale factor only while enough of
# its thresholds stay equal (two or more: both; one: one of them; none:
# neither). Each partial fit is compared with its full level by lavTestLRT.

partial_cases <- list(
  thresholds_a1 = list(level = "thresholds",
                       partial = paste0("A1|t", 1:5)),
  thresholds_a1t5 = list(level = "thresholds", partial = "A1|t5"),
  scalar_a1 = list(level = "scalar", partial = "A1~1")
)
partial_tests <- list()
for (case in names(partial_cases)) {
  spec <- partial_cases[[case]]
  constraints <- ladder[[spec$level]]
  syntax <- as.character(measEq.syntax(
    env$ac_model, data = env$bfi_edu, ordered = env$ac_items,
    parameterization = "delta", ID.fac = "std.lv",
    ID.cat = "Wu.Estabrook.2016", group = "education_band",
    group.equal = constraints, group.partial = spec$partial
  ))
  env[[paste0("syntax_partial_", case)]] <- syntax
  fit <- fit_and_write(
    paste0("bfi_ord_edu_partial_", case),
    paste("bfi 2-factor CFA on A1-A5 and C1-C5 declared ordered, three groups by",
          "education band, level", spec$level, "with",
          paste(spec$partial, collapse = ", "), "released, identification of",
          "Wu and Estabrook (2016), estimator WLSMV"),
    sprintf(paste('cfa(syntax_partial_%s, data = bfi_edu, ordered = ac_items,',
                  'group = "education_band", estimator = "WLSMV",',
                  'parameterization = "delta")'), case),
    syntax, env,
    options = list(ordered = I(env$ac_items), estimator = "WLSMV",
                   group = "education_band", std.lv = TRUE,
                   group.equal = I(constraints), group.partial = I(spec$partial)),
    data_file = bfi_file, data_preparation = bfi_preparation,
    with_vcov = FALSE
  )
  lrt <- lavTestLRT(fit, fits[[spec$level]])
  partial_tests[[case]] <- list(
    level = spec$level,
    group_partial = I(spec$partial),
    chisq_diff = as.numeric(lrt[["Chisq diff"]][2]),
    df_diff = as.numeric(lrt[["Df diff"]][2]),
    pvalue = as.numeric(lrt[["Pr(>Chisq)"]][2])
  )
}
write_json_file(
  list(
    name = "bfi_ord_edu_partial_tests",
    description = paste("lavTestLRT of each partial fit against its full level",
                        "(bfi A/C by education band, WLSMV, satorra.2000)"),
    lavaan_version = as.character(packageVersion("lavaan")),
    semtools_version = as.character(packageVersion("semTools")),
    r_version = R.version.string,
    tests = partial_tests
  ),
  "bfi_ord_edu_partial_tests.json"
)

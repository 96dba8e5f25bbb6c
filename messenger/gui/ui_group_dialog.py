# -*- coding: utf-8 -*-

################################################################################
## Form generated from reading UI file 'group_dialog.ui'
##
## Created by: Qt User Interface Compiler version 6.11.3
##
## WARNING! All changes made in this file will be lost when recompiling UI file!
################################################################################

from PySide6.QtCore import (QCoreApplication, QDate, QDateTime, QLocale,
    QMetaObject, QObject, QPoint, QRect,
    QSize, QTime, QUrl, Qt)
from PySide6.QtGui import (QBrush, QColor, QConicalGradient, QCursor,
    QFont, QFontDatabase, QGradient, QIcon,
    QImage, QKeySequence, QLinearGradient, QPainter,
    QPalette, QPixmap, QRadialGradient, QTransform)
from PySide6.QtWidgets import (QAbstractButton, QAbstractItemView, QApplication, QDialog,
    QDialogButtonBox, QFormLayout, QLabel, QLineEdit,
    QRadioButton, QSizePolicy, QVBoxLayout, QWidget)

from messenger.gui.widgets import EmptyHintListView

class Ui_GroupDialog(object):
    def setupUi(self, GroupDialog):
        if not GroupDialog.objectName():
            GroupDialog.setObjectName(u"GroupDialog")
        GroupDialog.resize(420, 480)
        self.mainLayout = QVBoxLayout(GroupDialog)
        self.mainLayout.setObjectName(u"mainLayout")
        self.formLayout = QFormLayout()
        self.formLayout.setObjectName(u"formLayout")
        self.nameLabel = QLabel(GroupDialog)
        self.nameLabel.setObjectName(u"nameLabel")

        self.formLayout.setWidget(0, QFormLayout.ItemRole.LabelRole, self.nameLabel)

        self.nameEdit = QLineEdit(GroupDialog)
        self.nameEdit.setObjectName(u"nameEdit")

        self.formLayout.setWidget(0, QFormLayout.ItemRole.FieldRole, self.nameEdit)

        self.kindLabel = QLabel(GroupDialog)
        self.kindLabel.setObjectName(u"kindLabel")

        self.formLayout.setWidget(1, QFormLayout.ItemRole.LabelRole, self.kindLabel)

        self.kindLayout = QVBoxLayout()
        self.kindLayout.setObjectName(u"kindLayout")
        self.inviteOnlyRadio = QRadioButton(GroupDialog)
        self.inviteOnlyRadio.setObjectName(u"inviteOnlyRadio")
        self.inviteOnlyRadio.setChecked(True)

        self.kindLayout.addWidget(self.inviteOnlyRadio)

        self.publicRadio = QRadioButton(GroupDialog)
        self.publicRadio.setObjectName(u"publicRadio")

        self.kindLayout.addWidget(self.publicRadio)


        self.formLayout.setLayout(1, QFormLayout.ItemRole.FieldRole, self.kindLayout)


        self.mainLayout.addLayout(self.formLayout)

        self.membersLabel = QLabel(GroupDialog)
        self.membersLabel.setObjectName(u"membersLabel")

        self.mainLayout.addWidget(self.membersLabel)

        self.filterEdit = QLineEdit(GroupDialog)
        self.filterEdit.setObjectName(u"filterEdit")
        self.filterEdit.setClearButtonEnabled(True)

        self.mainLayout.addWidget(self.filterEdit)

        self.membersView = EmptyHintListView(GroupDialog)
        self.membersView.setObjectName(u"membersView")
        self.membersView.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)

        self.mainLayout.addWidget(self.membersView)

        self.chosenLabel = QLabel(GroupDialog)
        self.chosenLabel.setObjectName(u"chosenLabel")
        self.chosenLabel.setWordWrap(True)

        self.mainLayout.addWidget(self.chosenLabel)

        self.errorLabel = QLabel(GroupDialog)
        self.errorLabel.setObjectName(u"errorLabel")
        self.errorLabel.setStyleSheet(u"color: #b3261e; font-weight: bold;")
        self.errorLabel.setWordWrap(True)

        self.mainLayout.addWidget(self.errorLabel)

        self.buttonBox = QDialogButtonBox(GroupDialog)
        self.buttonBox.setObjectName(u"buttonBox")
        self.buttonBox.setStandardButtons(QDialogButtonBox.StandardButton.Cancel|QDialogButtonBox.StandardButton.Ok)

        self.mainLayout.addWidget(self.buttonBox)

#if QT_CONFIG(shortcut)
        self.nameLabel.setBuddy(self.nameEdit)
        self.membersLabel.setBuddy(self.filterEdit)
#endif // QT_CONFIG(shortcut)
        QWidget.setTabOrder(self.nameEdit, self.inviteOnlyRadio)
        QWidget.setTabOrder(self.inviteOnlyRadio, self.publicRadio)
        QWidget.setTabOrder(self.publicRadio, self.filterEdit)
        QWidget.setTabOrder(self.filterEdit, self.membersView)

        self.retranslateUi(GroupDialog)
        self.buttonBox.rejected.connect(GroupDialog.reject)

        QMetaObject.connectSlotsByName(GroupDialog)
    # setupUi

    def retranslateUi(self, GroupDialog):
        GroupDialog.setWindowTitle(QCoreApplication.translate("GroupDialog", u"New group", None))
        self.nameLabel.setText(QCoreApplication.translate("GroupDialog", u"Group &name:", None))
        self.nameEdit.setPlaceholderText(QCoreApplication.translate("GroupDialog", u"letters, digits, _ . - (up to 32)", None))
#if QT_CONFIG(accessibility)
        self.nameEdit.setAccessibleName(QCoreApplication.translate("GroupDialog", u"Group name", None))
#endif // QT_CONFIG(accessibility)
        self.kindLabel.setText(QCoreApplication.translate("GroupDialog", u"Who may join:", None))
        self.inviteOnlyRadio.setText(QCoreApplication.translate("GroupDialog", u"&Invite-only \u2014 only the people you invite", None))
        self.publicRadio.setText(QCoreApplication.translate("GroupDialog", u"&Public \u2014 anyone can join by name", None))
        self.membersLabel.setText(QCoreApplication.translate("GroupDialog", u"&Members to invite:", None))
        self.filterEdit.setPlaceholderText(QCoreApplication.translate("GroupDialog", u"Filter contacts\u2026", None))
#if QT_CONFIG(accessibility)
        self.filterEdit.setAccessibleName(QCoreApplication.translate("GroupDialog", u"Filter contacts", None))
#endif // QT_CONFIG(accessibility)
#if QT_CONFIG(accessibility)
        self.membersView.setAccessibleName(QCoreApplication.translate("GroupDialog", u"Contacts to invite", None))
#endif // QT_CONFIG(accessibility)
        self.chosenLabel.setText(QCoreApplication.translate("GroupDialog", u"Nobody chosen yet.", None))
#if QT_CONFIG(accessibility)
        self.errorLabel.setAccessibleDescription(QCoreApplication.translate("GroupDialog", u"Error", None))
#endif // QT_CONFIG(accessibility)
    # retranslateUi

